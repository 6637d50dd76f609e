package metrics_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/metrics"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

var discard = slog.New(slog.DiscardHandler)

func newMetrics(t *testing.T, reauth func() (int, error)) *metrics.Metrics {
	t.Helper()
	if reauth == nil {
		reauth = func() (int, error) { return 0, nil }
	}
	return metrics.New(api.RequestTypes(), reauth, discard)
}

// series gathers the daemon's own metrics: name → label set → value.
func series(t *testing.T, m *metrics.Metrics) map[string]map[string]float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	out := map[string]map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "ovos_oauth_") {
			continue
		}
		out[f.GetName()] = map[string]float64{}
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[f.GetName()][strings.Join(labels, ",")] = value(mt)
		}
	}
	return out
}

func value(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	case mt.Histogram != nil:
		return float64(mt.Histogram.GetSampleCount())
	}
	return math.NaN()
}

// TestCounts: each observation moves its own series, with its labels.
func TestCounts(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, func() (int, error) { return 2, nil })
	m.LoginStarted(oauth.LoginLAN)
	m.LoginStarted(oauth.LoginDevice)
	m.LoginCompleted(oauth.LoginLAN)
	m.LoginFailed(oauth.LoginDevice, oauth.CodeAccessDenied)
	m.Refreshed()
	m.Refreshed()
	m.RefreshFailed(oauth.CodeProviderUnavailable)
	m.BusConnected()
	m.BusConnected()
	m.BusConnected()
	m.Request("oauth.get", metrics.OK, 300*time.Microsecond)
	m.Request("oauth.get", oauth.CodeUnknownApp, time.Millisecond)
	m.Request("oauth.token.get", oauth.CodeBusy, 2500*time.Millisecond)

	got := series(t, m)
	want := map[string]map[string]float64{
		"ovos_oauth_logins_started_total":     {"mode=lan": 1, "mode=relay": 0, "mode=loopback": 0, "mode=device": 1},
		"ovos_oauth_logins_completed_total":   {"mode=lan": 1, "mode=relay": 0, "mode=loopback": 0, "mode=device": 0},
		"ovos_oauth_logins_failed_total":      {"error=access_denied,mode=device": 1},
		"ovos_oauth_refreshes_total":          {"": 2},
		"ovos_oauth_refresh_failures_total":   {"error=provider_unavailable": 1},
		"ovos_oauth_apps_needing_reauth":      {"": 2},
		"ovos_oauth_bus_connects_total":       {"": 3},
		"ovos_oauth_bus_reconnects_total":     {"": 2},
		"ovos_oauth_request_duration_seconds": {"type=oauth.get": 2, "type=oauth.token.get": 1},
	}
	requests := map[string]float64{}
	for _, typ := range api.RequestTypes() {
		requests["outcome=ok,type="+typ] = 0
	}
	requests["outcome=ok,type=oauth.get"] = 1
	requests["outcome=unknown_app,type=oauth.get"] = 1
	requests["outcome=busy,type=oauth.token.get"] = 1
	want["ovos_oauth_requests_total"] = requests
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("series (-got +want):\n%s", diff)
	}
}

// TestLabelsBounded: values from outside a label's set, as a bug or a
// hostile bus could bring, are all "other": no new series per value, and
// none carries what it was given.
func TestLabelsBounded(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, nil)
	hostile := []string{"skill-demo.test_app", "oauth.token.response.skill_app", "AT-secret-token", "state-" + strings.Repeat("x", 43), "", "lan ", "OK"}
	for i, v := range hostile {
		m.LoginStarted(v)
		m.LoginCompleted(v)
		m.LoginFailed(v, v)
		m.LoginFailed(oauth.LoginLAN, v+strconv.Itoa(i))
		m.RefreshFailed(v)
		m.Request(v, v, time.Millisecond)
		m.Request("oauth.get", v, time.Millisecond)
	}
	allowed := map[string][]string{
		"mode":    metrics.Modes,
		"error":   metrics.Codes,
		"outcome": append([]string{metrics.OK}, metrics.Codes...),
		"type":    api.RequestTypes(),
	}
	n := 0
	for name, byLabels := range series(t, m) {
		for labels := range byLabels {
			n++
			if labels == "" {
				continue
			}
			for _, l := range strings.Split(labels, ",") {
				k, v, _ := strings.Cut(l, "=")
				if v != metrics.Other && !slices.Contains(allowed[k], v) {
					t.Errorf("%s{%s}: %s=%q is outside its set", name, labels, k, v)
				}
			}
		}
	}
	// The pre-made series, plus one "other" for each of: started,
	// completed, failed{other,other}, failed{lan,other}, refresh failures,
	// requests{other,other}, requests{oauth.get,other}, durations{other},
	// durations{oauth.get}.
	want := 2*len(metrics.Modes) + len(api.RequestTypes()) + 4 + 9
	if n != want {
		t.Errorf("%d series after %d hostile values each, want %d", n, len(hostile), want)
	}
}

func TestAppsNeedingReauth(t *testing.T) {
	t.Parallel()
	n, fail := 0, false
	m := newMetrics(t, func() (int, error) {
		if fail {
			return 0, errors.New("store closed")
		}
		return n, nil
	})
	for _, want := range []int{0, 3, 1} {
		n = want
		if got := series(t, m)["ovos_oauth_apps_needing_reauth"][""]; got != float64(want) {
			t.Errorf("apps_needing_reauth = %v, want %d", got, want)
		}
	}
	fail = true
	if got := series(t, m)["ovos_oauth_apps_needing_reauth"][""]; !math.IsNaN(got) {
		t.Errorf("apps_needing_reauth with the store failing = %v, want NaN", got)
	}
}

// TestCodesAndModesComplete keeps the label sets in step with package
// oauth: every Code and Login constant, and nothing else.
func TestCodesAndModesComplete(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../oauth/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("package oauth's files: %v, %v", files, err)
	}
	fset := token.NewFileSet()
	var codes, modes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					switch {
					case strings.HasPrefix(name.Name, "Code"):
						codes = append(codes, v)
					case strings.HasPrefix(name.Name, "Login"):
						modes = append(modes, v)
					}
				}
			}
		}
	}
	sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }
	if diff := cmp.Diff(sorted(metrics.Codes), sorted(codes)); diff != "" {
		t.Errorf("metrics.Codes differ from oauth's Code constants (-metrics +oauth):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(metrics.Modes), sorted(modes)); diff != "" {
		t.Errorf("metrics.Modes differ from oauth's Login constants (-metrics +oauth):\n%s", diff)
	}
}

// TestServe: /metrics in the text format, with the runtime and process
// collectors; 404 elsewhere; the server stops with its context.
func TestServe(t *testing.T) {
	t.Parallel()
	m := newMetrics(t, nil)
	m.Refreshed()
	m.Request("oauth.status", metrics.OK, time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"\novos_oauth_refreshes_total 1\n", "\ngo_goroutines ", "\nprocess_resident_memory_bytes ", "# TYPE ovos_oauth_request_duration_seconds histogram"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", strings.TrimSpace(want))
		}
	}
	for _, path := range []string{"/", "/metrics/", "/debug/pprof/", "/auth/callback/x"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() after cancel = %v, want nil", err)
	}
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Errorf("the server still answers after Serve returned")
	}
}

func TestAppsLoginEnding(t *testing.T) {
	t.Parallel()
	n, fail := 0, false
	m := newMetrics(t, nil)
	m.CountLoginsEnding(func() (int, error) {
		if fail {
			return 0, errors.New("store closed")
		}
		return n, nil
	})
	for _, want := range []int{0, 2} {
		n = want
		if got, ok := series(t, m)["ovos_oauth_apps_login_ending"][""]; !ok || got != float64(want) {
			t.Errorf("apps_login_ending = %v (there: %v), want %d", got, ok, want)
		}
	}
	fail = true
	if got := series(t, m)["ovos_oauth_apps_login_ending"][""]; !math.IsNaN(got) {
		t.Errorf("apps_login_ending with the store failing = %v, want NaN", got)
	}
}
