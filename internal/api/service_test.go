package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// outbox collects what the service sends.
type outbox struct {
	mu   sync.Mutex
	msgs []bus.Message
	more chan struct{}
}

func newOutbox() *outbox { return &outbox{more: make(chan struct{}, 1)} }

func (o *outbox) Send(m bus.Message) error {
	o.mu.Lock()
	o.msgs = append(o.msgs, m)
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return nil
}

// wait returns the sent messages once there are n of them.
func (o *outbox) wait(t *testing.T, n int) []bus.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		o.mu.Lock()
		if len(o.msgs) >= n {
			out := append([]bus.Message(nil), o.msgs...)
			o.mu.Unlock()
			return out
		}
		o.mu.Unlock()
		select {
		case <-o.more:
		case <-deadline:
			t.Fatalf("%d messages sent, want %d", len(o.msgs), n)
		}
	}
}

func newService(t *testing.T) (*api.Service, *outbox) {
	t.Helper()
	db := storetest.Open(t)
	logger := slog.New(slog.DiscardHandler)
	out := newOutbox()
	e := oauth.NewEngine(db, api.NewPublisher(out, logger), "http://192.0.2.1:36536", logger)
	svc := api.New(e, out, qr.NewDir(t.TempDir()), "192.0.2.1", 36536, logger)
	return svc, out
}

func request(typ string, data map[string]any) bus.Message {
	m := bus.NewMessage(typ, data)
	m.Context = map[string]json.RawMessage{"source": json.RawMessage(`"skill"`), "destination": json.RawMessage(`"PHAL"`)}
	return m
}

// run runs the service until the test ends or stop is called; stop
// returns once every request in flight has been answered.
func run(t *testing.T, svc *api.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func dataOf(t *testing.T, m bus.Message) map[string]any {
	t.Helper()
	var d map[string]any
	if err := m.DecodeData(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRequestsAboutOneAppRunInOrder: a skill that sends oauth.register and
// oauth.get back to back, without waiting, gets a URL, not unknown_app.
func TestRequestsAboutOneAppRunInOrder(t *testing.T) {
	svc, out := newService(t)
	run(t, svc)
	const n = 20
	for i := range n {
		app := string(rune('a' + i))
		svc.Dispatch(request("oauth.register", map[string]any{"skill_id": "s", "app_id": app, "client_id": "c",
			"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}))
		svc.Dispatch(request("oauth.get", map[string]any{"skill_id": "s", "app_id": app}))
	}
	for _, m := range out.wait(t, 2*n) {
		if d := dataOf(t, m); d["error"] != nil {
			t.Errorf("%s: error %v", m.Type, d["error"])
		}
	}
}

func TestRepliesFollowBusSemantics(t *testing.T) {
	svc, out := newService(t)
	run(t, svc)
	svc.Dispatch(request("oauth.get.app.host.info", nil))
	got := out.wait(t, 1)[0]
	if got.Type != "oauth.app.host.info.response" || string(got.Context["source"]) != `"PHAL"` || string(got.Context["destination"]) != `"skill"` {
		t.Errorf("reply = %s with context %s, want source and destination swapped", got.Type, got.Context)
	}
	if d := dataOf(t, got); d["host"] != "192.0.2.1" || d["port"] != float64(36536) {
		t.Errorf("host info = %v", d)
	}
}

// TestBusyWhenQueueFull: past MaxQueued a request is answered at once with
// error "busy", never dropped.
func TestBusyWhenQueueFull(t *testing.T) {
	svc, out := newService(t)
	svc.MaxQueued = 3
	// Not running: nothing leaves the queue.
	for range 5 {
		svc.Dispatch(request("oauth.refresh", map[string]any{"skill_id": "s", "app_id": "a"}))
	}
	msgs := out.wait(t, 2)
	for _, m := range msgs {
		d := dataOf(t, m)
		if m.Type != "oauth.refresh.response" || d["error"] != "busy" || d["result"] != "Error" {
			t.Errorf("overflow reply = %s %v, want oauth.refresh.response busy", m.Type, d)
		}
	}
	run(t, svc)
	out.wait(t, 5) // the queued three are answered once Run starts
}

func TestInvalidFrameGetsItsReply(t *testing.T) {
	svc, out := newService(t)
	svc.Invalid("oauth.generate.qr.request", nil)
	svc.Invalid("test.not.ours", nil)
	got := out.wait(t, 1)
	if len(got) != 1 || got[0].Type != "oauth.generate.qr.response" || dataOf(t, got[0])["error"] != "invalid_request" {
		t.Fatalf("replies = %v", got)
	}
}

func TestHandlesOnlyRequests(t *testing.T) {
	svc, _ := newService(t)
	for _, typ := range []string{"oauth.register", "oauth.get", "oauth.start", "ovos.shell.oauth.register.credentials",
		"ovos.shell.oauth.authentication.forward", "oauth.refresh", "oauth.get.app.host.info", "oauth.generate.qr.request",
		"oauth.token.get", "oauth.revoke", "oauth.unregister", "oauth.status"} {
		if !svc.Handles(typ) {
			t.Errorf("Handles(%q) = false", typ)
		}
	}
	for _, typ := range []string{"oauth.register.response", "oauth.url", "ovos.shell.oauth.start.authentication", "oauth.ping",
		"oauth.app.host.info.response", "oauth.generate.qr.response", "ovos.shell.oauth.display.qr.code",
		"oauth.token.response.s_a", "oauth.token.refreshed.s_a", "oauth.token.error.s_a", "oauth.reauth.required.s_a", "oauth.reauth.upcoming.s_a",
		"oauth.refresh.response", "oauth.status.response", "connected", "ovos.session.sync"} {
		if svc.Handles(typ) {
			t.Errorf("Handles(%q) = true: the daemon would answer its own replies", typ)
		}
	}
}

// TestQRReplyBeforeDisplay: the skill hears of its QR code before ovos-shell
// is asked to show it, and only apps with shell_integration are shown.
func TestQRReplyBeforeDisplay(t *testing.T) {
	svc, out := newService(t)
	stop := run(t, svc)
	reg := map[string]any{"skill_id": "s", "app_id": "shown", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}
	svc.Dispatch(request("oauth.register", reg))
	reg2 := map[string]any{"skill_id": "s", "app_id": "hidden", "client_id": "c", "shell_integration": false,
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}
	svc.Dispatch(request("oauth.register", reg2))
	out.wait(t, 2)
	svc.Dispatch(request("oauth.generate.qr.request", map[string]any{"skill_id": "s", "app_id": "shown"}))
	svc.Dispatch(request("oauth.generate.qr.request", map[string]any{"skill_id": "s", "app_id": "hidden"}))
	out.wait(t, 5)
	stop()
	var order []string
	for _, m := range out.wait(t, 5)[2:] {
		order = append(order, m.Type+":"+dataOf(t, m)["app_id"].(string))
	}
	shownReply, shownDisplay := -1, -1
	for i, o := range order {
		switch o {
		case "oauth.generate.qr.response:shown":
			shownReply = i
		case "ovos.shell.oauth.display.qr.code:shown":
			shownDisplay = i
		case "ovos.shell.oauth.display.qr.code:hidden":
			t.Errorf("display.qr.code for an app with shell_integration false")
		}
	}
	if len(order) != 3 || shownReply < 0 || shownDisplay < shownReply {
		t.Errorf("messages = %v, want the reply before the display", order)
	}
}
