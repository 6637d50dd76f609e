package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

func ms(v ...int) []time.Duration {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of two is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"p50 of three", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"p99 of ten is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99.9 of 100", ms(hundred...), 99.9, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	r := row{Kind: kindGet, C: 1, N: 4}
	r.summarize(ms(4, 1, 3, 2), 2*time.Second)
	want := row{Kind: kindGet, C: 1, N: 4, P50: 2, P90: 4, P99: 4, Max: 4, PerSecond: 2, latencyKnow: true}
	if diff := cmp.Diff(r, want, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("summarize (-got +want):\n%s", diff)
	}
	r.setProc(procSample{CPU: 10 * time.Millisecond, RSS: 1 << 20}, procSample{CPU: 30 * time.Millisecond, RSS: 3 << 20}, true)
	if r.CPUPer1000 != 5000 || r.RSS != 3 {
		t.Errorf("setProc: CPU %v ms/1000, RSS %v MB, want 5000 and 3", r.CPUPer1000, r.RSS)
	}
	r.setProc(procSample{}, procSample{}, false)
	if r.CPUPer1000 != -1 || r.RSS != -1 {
		t.Errorf("setProc without samples: CPU %v, RSS %v, want -1 and -1", r.CPUPer1000, r.RSS)
	}

	rows := []row{
		{Kind: kindEcho, C: 1, P50: 0.5, latencyKnow: true},
		{Kind: kindGet, C: 1, P50: 1, latencyKnow: true},
		{Kind: kindUnhandled, C: 1},
		{Kind: kindGet, C: 8, P50: 3, latencyKnow: true}, // no floor at c=8
	}
	setRatios(rows)
	var got []float64
	for _, r := range rows {
		got = append(got, r.Ratio)
	}
	if diff := cmp.Diff(got, []float64{1, 2, 0, 0}); diff != "" {
		t.Errorf("ratios (-got +want):\n%s", diff)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// A command name with spaces and a ')' of its own; utime 250, stime 120.
	line := "4242 (ovos (x) oauth) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 120 0 0 20 0 9 0 12345 1234567 3000 18446744073709551615\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 3700*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v, want 3.7s", got, err)
	}
	for _, bad := range []string{"", "4242 ovos S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 120 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) = nil error, want one", bad)
		}
	}

	status := "Name:\tovos-oauth\nVmPeak:\t  999 kB\nVmRSS:\t   13824 kB\nRssAnon:\t    9000 kB\nRssFile:\t    4824 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"
	m, err := parseStatus([]byte(status))
	if want := (statusMemory{rss: 13824 * 1024, anon: 9000 * 1024, file: 4824 * 1024}); err != nil || m != want {
		t.Errorf("parseStatus = %+v, %v, want %+v", m, err, want)
	}
	// A kernel before 4.5 has no RssAnon or RssFile.
	if m, err := parseStatus([]byte("VmRSS:\t 12 kB\n")); err != nil || m != (statusMemory{rss: 12 * 1024}) {
		t.Errorf("parseStatus(VmRSS only) = %+v, %v, want rss 12 kB", m, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\n", "VmRSS:\t12 kB\nRssAnon:\tx kB\n"} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parseStatus(%q) = nil error, want one", bad)
		}
	}

	// And this very process, as the kernel writes it.
	s, err := readProc(os.Getpid())
	if err != nil || s.RSS <= 0 || s.Anon <= 0 || s.File <= 0 || s.Anon+s.File > s.RSS {
		t.Errorf("readProc(self) = %+v, %v, want an RSS of anonymous and file pages", s, err)
	}
}

func TestReplyError(t *testing.T) {
	t.Parallel()
	tests := []struct{ frame, want string }{
		{`{"type":"x.response","data":{"url":"u"}}`, ""},
		{`{"type":"x.response","data":{"error":null}}`, ""},
		{`{"type":"x.response","data":{"error":""}}`, ""},
		{`{"type":"x.response","data":{"error":"not_authorized"}}`, "not_authorized"},
		{`{"type":"x.response","data":{"error":{"code":1}}}`, `{"code":1}`},
		{`{"type":"x.response"}`, ""},
		{`[]`, "the reply is not a JSON object"},
	}
	for _, tt := range tests {
		if got := replyError([]byte(tt.frame)); got != tt.want {
			t.Errorf("replyError(%s) = %q, want %q", tt.frame, got, tt.want)
		}
	}
}

// TestReplyMatching answers two requests in the reverse order, after
// decoys: the requests' own echoes, a reply of the right type with another
// id, one with the right id and another type, and a frame without an id.
func TestReplyMatching(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t, func(h *bus.Hub) { h.NoDelay = false })
	answerer := bustest.Dial(t, url)
	c, err := dial(url, "t-", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	type result struct {
		data string
		err  error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			frame, _, err := c.request("test.ask", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "test.answer", bustest.Timeout)
			var m struct {
				Data json.RawMessage `json:"data"`
			}
			if err == nil {
				err = json.Unmarshal(frame, &m)
			}
			results[i] = result{string(m.Data), err}
		})
	}
	reqs := []bus.Message{answerer.Expect(t, "test.ask"), answerer.Expect(t, "test.ask")}
	for _, req := range reqs {
		answerer.Send(t, req.Reply("test.answer.other", map[string]any{"decoy": "type"}))
		answerer.Send(t, bus.Message{Type: "test.answer", Data: json.RawMessage(`{"decoy":"id"}`),
			Context: map[string]json.RawMessage{"bench_id": json.RawMessage(`"t-999"`)}})
		answerer.Send(t, bus.NewMessage("test.answer", map[string]any{"decoy": "no id"}))
	}
	for _, req := range slices.Backward(reqs) {
		var in struct{ I int }
		if err := req.DecodeData(&in); err != nil {
			t.Fatal(err)
		}
		answerer.Send(t, req.Reply("test.answer", map[string]any{"answer": in.I}))
	}
	wg.Wait()
	for i, r := range results {
		if want := fmt.Sprintf(`{"answer":%d}`, i); r.err != nil || r.data != want {
			t.Errorf("request %d: reply %s, %v, want %s", i, r.data, r.err, want)
		}
	}
}

func TestRequestLost(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	c, err := dial(url, "t-", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.request("test.nobody", nil, "test.nobody.response", 10*time.Millisecond); !errors.Is(err, errLost) {
		t.Errorf("request with nobody to answer = %v, want errLost", err)
	}
	c.mu.Lock()
	left := len(c.pending) + len(c.wanted)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("a lost request is still pending")
	}
}

func TestEchoResponder(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t, func(h *bus.Hub) { h.NoDelay = false })
	echo, err := dial(url, "", echoResponder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	c, err := dial(url, "t-", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for range 3 {
		if _, _, err := c.request(typeEcho, nil, typeEchoReply, bustest.Timeout); err != nil {
			t.Fatalf("echo: %v", err)
		}
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	o, err := parseArgs([]string{"-c", "8,1", "-kinds", "qr,echo", "--", "d", "--bus-url", "{bus}"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{o.cs, o.kinds, o.daemon, o.busURL}, []any{[]int{8, 1}, []string{kindEcho, kindQR}, []string{"d", "--bus-url", "{bus}"}, "ws://127.0.0.1:8181/core"}); diff != "" {
		t.Errorf("parseArgs (-got +want):\n%s", diff)
	}
	for _, bad := range [][]string{
		{"-c", "0"}, {"-c", "1,x"}, {"-kinds", "echo,nope"}, {"-n", "0"}, {"-starts", "1"},
		{"-pid", "1", "--", "d"}, {"-timeout", "0s"}, {"-unhandled", "0"}, {"-idle", "-1s"},
	} {
		if _, err := parseArgs(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("parseArgs(%q) = nil error, want one", bad)
		}
	}
}

// TestAgainstTheDaemon runs the command briefly, every kind at c=1 and c=2,
// against ovos-oauth built and started as its own process on the bus the
// command hosts, and checks that every request got its reply.
func TestAgainstTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the daemon")
	}
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "ovos-oauth")
	build := exec.Command(gobin, "build", "-o", bin, "../ovos-oauth")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../ovos-oauth: %v\n%s", err, out)
	}
	home := filepath.Join(tmp, "home")
	daemon := []string{"env", "-i", "PATH=" + os.Getenv("PATH"),
		"HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CONFIG_DIRS=" + filepath.Join(tmp, "xdg"), "OVOS_OAUTH_SYSTEM_CONFIG_DIR=" + filepath.Join(tmp, "etc"),
		"MYCROFT_SYSTEM_CONFIG=/nonexistent", "TMPDIR=" + tmp, // the mirror's locks, /tmp by default
		bin, "serve", "--bus-url", "{bus}", "--data-dir", filepath.Join(tmp, "data"), "--listen", "127.0.0.1:0",
		"--public-host", "127.0.0.1", "--mirror-ovos-utils=true", "--log-level", "error"}
	const n = 20
	var stdout, stderr bytes.Buffer
	args := append([]string{"-host-bus", "127.0.0.1:0", "-c", "1,2", "-n", fmt.Sprint(n), "-unhandled", "200",
		"-preload", "10", "-starts", "1", "-timeout", "10s", "-idle", "10ms", "-json", "--"}, daemon...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run = %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("-json output: %v\n%s", err, stdout.String())
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, fmt.Sprintf("%s c=%d", r.Kind, r.C))
		want := n
		switch r.Kind {
		case kindUnhandled:
			want = 200
		case kindPreload:
			want = 10
		}
		if r.N != want || r.Lost != 0 || r.Errors != 0 {
			t.Errorf("%s at c=%d: n %d, lost %d, errors %d; want n %d, none lost or failed", r.Kind, r.C, r.N, r.Lost, r.Errors, want)
		}
		if r.CPUPer1000 < 0 || r.RSS <= 0 {
			t.Errorf("%s at c=%d: CPU %v ms/1000, RSS %v MB: want the daemon's, from /proc", r.Kind, r.C, r.CPUPer1000, r.RSS)
		}
	}
	want := []string{"preload c=2"}
	for _, c := range []int{1, 2} {
		for _, k := range allKinds {
			if k != kindUnhandled || c == 1 {
				want = append(want, fmt.Sprintf("%s c=%d", k, c))
			}
		}
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("rows (-got +want):\n%s", diff)
	}
	var when []string
	for _, m := range rep.Memory {
		when = append(when, m.When)
		if m.RSS <= 0 || m.Anon <= 0 || m.Anon+m.File > m.RSS+0.01 {
			t.Errorf("memory %q = %+v: want VmRSS of RssAnon and RssFile", m.When, m)
		}
	}
	if diff := cmp.Diff(when, []string{"up, before any request", "after the preload", "10ms after the preload", "after the last row", "10ms after the last row"}); diff != "" {
		t.Errorf("memory samples (-got +want):\n%s", diff)
	}
	if rep.Startup == nil || len(rep.Startup.Samples) != 1 || rep.Startup.Apps != 10 {
		t.Errorf("startup = %+v, want one sample with the 10 preloaded apps", rep.Startup)
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}
