package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
)

// runningDaemon is an ovos-oauth daemon started as serve starts it, from
// its flags.
type runningDaemon struct {
	busURL  string // the bus it is attached to
	baseURL string // its callback server, as phones reach it
	dataDir string
	home    string // its $HOME
	metrics string // host:port of its metrics server, "" for none
	logs    *logSink
	stop    func() error
}

// startDaemon runs the daemon on a bus, with a data dir and free ports, and
// waits until it is on the bus. extra flags go after the defaults.
func startDaemon(t *testing.T, busURL, dataDir string, extra ...string) *runningDaemon {
	t.Helper()
	return startDaemonHome(t, busURL, dataDir, t.TempDir(), extra...)
}

// startDaemonHome is startDaemon with home as $HOME, where the ovos_utils
// mirror and the import's default folder are.
func startDaemonHome(t *testing.T, busURL, dataDir, home string, extra ...string) *runningDaemon {
	t.Helper()
	return startDaemonEnv(t, busURL, dataDir, homeEnv(t, home), extra...)
}

// homeEnv is the environment of a daemon whose $HOME is home, with no
// system configuration.
func homeEnv(t *testing.T, home string) map[string]string {
	return map[string]string{"HOME": home, "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
}

// startDaemonEnv is startDaemon with the environment env, which holds its
// $HOME.
func startDaemonEnv(t *testing.T, busURL, dataDir string, env map[string]string, extra ...string) *runningDaemon {
	t.Helper()
	return startDaemonTuned(t, busURL, dataDir, env, nil, extra...)
}

// shortMirrorWait tunes a daemon (startDaemonTuned) to wait 100 ms, not
// 2 s, for another program's refresh token to show in the mirror after
// the provider refused its own (invalid_grant), and for the mirror before
// a token's event: for tests of what a skill is told then, not of that
// wait, which internal/oauth's tests hold.
func shortMirrorWait(d *daemon) { d.engine.MirrorWait = 100 * time.Millisecond }

// startDaemonTuned is startDaemonEnv with tune, if not nil, called on the
// opened daemon before it runs: a test sets there what no flag sets.
func startDaemonTuned(t *testing.T, busURL, dataDir string, env map[string]string, tune func(*daemon), extra ...string) *runningDaemon {
	t.Helper()
	home := env["HOME"]
	logs := newLogSink()
	args := []string{
		"--listen", "127.0.0.1:0",
		"--public-host", "127.0.0.1",
		"--data-dir", dataDir,
		// Each daemon its own: the default under /tmp is one per user,
		// and a daemon's sweep removes the images of another's.
		"--qr-dir", filepath.Join(dataDir, "qr"),
		"--log-format", "json",
		"--log-level", "debug",
	}
	if busURL != "" {
		args = append(args, "--bus-url", busURL)
	}
	args = append(args, extra...)
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(args, getenv, logs)
	if err != nil {
		t.Fatalf("config.Load(%q) = %v", args, err)
	}
	d := newDaemon(cfg, newLogger(cfg, logs), getenv)
	if err := d.Open(); err != nil {
		t.Fatalf("Open() = %v (Close() = %v); logs:\n%s", err, d.Close(), logs)
	}
	if tune != nil {
		tune(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- errors.Join(d.Run(ctx), d.Close()) }()

	// A frame sent before the daemon is on the bus never reaches it (the bus
	// keeps nothing), so tests start once it is.
	select {
	case <-d.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run() = %v before joining the bus; logs:\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatalf("daemon did not join the bus in 10s; logs:\n%s", logs)
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("daemon did not stop in 10s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run() or Close() at stop = %v", err)
		}
	})
	return &runningDaemon{busURL: d.BusURL(), baseURL: d.CallbackURL(), metrics: d.MetricsAddr(), dataDir: dataDir, home: home, logs: logs, stop: stop}
}

// logSink collects the daemon's JSON log lines and announces its start-up.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	started chan map[string]any
}

func newLogSink() *logSink {
	return &logSink{started: make(chan map[string]any, 1)}
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if rec["msg"] == "ovos-oauth started" {
			select {
			case l.started <- rec:
			default:
			}
		}
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// skill is a bus client playing a skill, as ovos-bus-client does: requests
// carry source and destination, replies are matched by type.
type skill struct {
	*bustest.Peer
	id string
}

func newSkill(t *testing.T, busURL, id string) *skill {
	t.Helper()
	return &skill{Peer: bustest.Dial(t, busURL), id: id}
}

// request sends a request and waits for the reply of replyType whose data
// matches the app (when it names one).
func (s *skill) request(t *testing.T, typ string, data map[string]any, replyType string) bus.Message {
	t.Helper()
	m := bus.NewMessage(typ, data)
	m.Context = map[string]json.RawMessage{
		"source":      json.RawMessage(`"` + s.id + `"`),
		"destination": json.RawMessage(`"PHAL"`),
	}
	s.Send(t, m)
	return s.expectFor(t, replyType, data)
}

// expectFor waits for a message of type typ about the same app as data.
func (s *skill) expectFor(t *testing.T, typ string, data map[string]any) bus.Message {
	t.Helper()
	return s.ExpectFunc(t, func(m bus.Message) bool {
		if m.Type != typ {
			return false
		}
		var got map[string]any
		if err := m.DecodeData(&got); err != nil {
			return false
		}
		for _, k := range []string{"skill_id", "app_id"} {
			if v, ok := got[k]; ok && data[k] != nil && v != data[k] {
				return false
			}
		}
		return true
	})
}

func dataOf(t *testing.T, m bus.Message) map[string]any {
	t.Helper()
	var d map[string]any
	if err := m.DecodeData(&d); err != nil {
		t.Fatalf("%s data: %v", m.Type, err)
	}
	return d
}

// noErr fails when a reply carries an error.
func noErr(t *testing.T, m bus.Message) map[string]any {
	t.Helper()
	d := dataOf(t, m)
	if e, ok := d["error"]; ok {
		t.Fatalf("%s: error %v (%v)", m.Type, e, d["error_description"])
	}
	return d
}

// wantErr fails unless a reply carries the error code.
func wantErr(t *testing.T, m bus.Message, code string) map[string]any {
	t.Helper()
	d := dataOf(t, m)
	if d["error"] != code {
		t.Fatalf("%s: error = %v (%v), want %q", m.Type, d["error"], d["error_description"], code)
	}
	if s, _ := d["error_description"].(string); s == "" {
		t.Errorf("%s: error %q without error_description", m.Type, code)
	}
	return d
}

// noRedirect is a phone that stops before following a redirect to host, so
// a test can see where the provider sends it.
func noRedirect(phone *http.Client, host string) *http.Client {
	c := *phone
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &c
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
