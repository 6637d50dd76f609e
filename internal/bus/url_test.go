package bus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ws://127.0.0.1:8181/core", "ws://127.0.0.1:8181/core"},
		{"wss://[fd00::1]:8443/core", "wss://[fd00::1]:8443/core"},
		{"ws://bus.lan:8181", "ws://bus.lan:8181"},
		{"ws://ovos:hunter2@127.0.0.1:8181/core", "ws://REDACTED@127.0.0.1:8181/core"},
		{"ws://t0ken@127.0.0.1:8181/core", "ws://REDACTED@127.0.0.1:8181/core"},
		{"ws://@127.0.0.1:8181/core", "ws://REDACTED@127.0.0.1:8181/core"},
		{"ws://127.0.0.1:8181/core?token=hunter2&x=1", "ws://127.0.0.1:8181/core?REDACTED"},
		{"ws://127.0.0.1:8181/core#hunter2", "ws://127.0.0.1:8181/core#REDACTED"},
		{"wss://ovos:hunter2@bus.lan/core?token=hunter2#hunter2", "wss://REDACTED@bus.lan/core?REDACTED#REDACTED"},
		{"ws://127.0.0.1:8181/a%20b", "ws://127.0.0.1:8181/a%20b"},
		{"ws:ovos:hunter2@127.0.0.1/core", "(malformed URL)"},     // opaque: no host to show
		{"ws://ovos:hunter2@127.0.0.1:x/core", "(malformed URL)"}, // does not parse
		{"ws://127.0.0.1/%zz?token=hunter2", "(malformed URL)"},
	}
	for _, tt := range tests {
		if got := bus.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestClientLogsNoURLSecrets: the query of a bus URL never reaches the log,
// over a connection made, lost, made again and unreachable; a URL with user
// info, which no websocket client can send, stops Run at once, with an
// error that does not show it either.
func TestClientLogsNoURLSecrets(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-bus-secret"
	url, hub := bustest.StartHub(t)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := bus.NewClient(url+"?token="+secret, logger)
	c.MinBackoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	r := &running{Client: c, h: newRecorder(), connects: make(chan struct{}, 100)}
	c.OnConnect = func() { r.connects <- struct{}{} }
	r.start(t)
	r.waitConnect(t)
	hub.Close()
	r.waitConnect(t)
	r.stop()

	unreachable := bus.NewClient("ws://127.0.0.1:1/core?token="+secret, logger)
	unreachable.MinBackoff, unreachable.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	r = &running{Client: unreachable, h: newRecorder()}
	r.start(t)
	polltest.Until(t, "the unreachable bus logged", func() bool { return strings.Contains(logs.String(), "cannot reach bus") })
	r.stop()

	out := logs.String()
	for _, want := range []string{"connected to bus", "bus connection lost", "cannot reach bus", url + "?REDACTED"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) {
		t.Errorf("the log shows the bus URL's query:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	logs = &lockedBuffer{}
	withUser := bus.NewClient("ws://ovos:"+secret+"@127.0.0.1:1/core", slog.New(slog.NewTextHandler(logs, nil)))
	err := withUser.Run(ctx, newRecorder())
	if err == nil || !strings.Contains(err.Error(), "user info") {
		t.Errorf("Run() with user info in the URL = %v, want an error about it", err)
	}
	if err != nil && strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("Run() = %v, log:\n%s\nshow the user info", err, logs)
	}
}
