package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// replies is a Sender that hands on every message it is given.
type replies chan bus.Message

func (r replies) Send(m bus.Message) error { r <- m; return nil }

// runBenchService runs a service over a real bbolt file until the benchmark
// ends, sending with sender (a bus client, say).
func runBenchService(b *testing.B, sender api.Sender) (*api.Service, *store.DB) {
	b.Helper()
	db := storetest.Open(b)
	b.Cleanup(func() { db.Close() })
	logger := slog.New(slog.DiscardHandler)
	e := oauth.NewEngine(db, api.NewPublisher(sender, logger), "http://192.0.2.1:36536", logger)
	svc := api.New(e, sender, qr.NewDir(b.TempDir()), "192.0.2.1", 36536, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return svc, db
}

// benchService returns a running service on a real bbolt file, with app
// "s"/"a" registered, and the channel its messages go to.
func benchService(b *testing.B) (*api.Service, replies) {
	b.Helper()
	out := make(replies, 16)
	svc, db := runBenchService(b, out)
	svc.Dispatch(request("oauth.register", map[string]any{"skill_id": "s", "app_id": "a", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t", "shell_integration": false}))
	<-out
	// Logged in, as the bench's token.get: a valid token as a provider
	// answers it.
	now := time.Now()
	if err := db.PutToken("s_a", &oauth.Token{AccessToken: "AT", TokenType: "Bearer", RefreshToken: "RT", Scope: "openid profile",
		Expiry: now.Add(time.Hour), Obtained: now, Raw: map[string]any{"expires_in": float64(3600), "id_token": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}}); err != nil {
		b.Fatal(err)
	}
	return svc, out
}

// sessionSync returns an ovos.session.sync frame as ovos-core sends it: the
// most common frame on the bus, which the daemon does not handle.
func sessionSync(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile("../../cmd/ovos-oauth/testdata/upstream-frames.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if typ, _ := bus.PeekType(line); typ == "ovos.session.sync" {
			return line
		}
	}
	b.Fatal("no ovos.session.sync in the fixtures")
	return nil
}

// route is what bus.Client does with a frame once read: peek, ask Handles,
// decode and Dispatch.
func route(b *testing.B, svc *api.Service, frame []byte) bool {
	typ, ok := bus.PeekType(frame)
	if !ok {
		b.Fatal("frame has no type")
	}
	if !svc.Handles(typ) {
		return false
	}
	m, err := bus.Decode(frame)
	if err != nil {
		b.Fatal(err)
	}
	svc.Dispatch(m)
	return true
}

// BenchmarkFrame is the daemon's cost of one frame after the websocket has
// read it: a frame it does not handle (peek and Handles), and requests up to
// their reply (decode, queue, run, encode nothing: the reply is a Message).
// oauth.get and the QR request open a pending login in bbolt (an fsync);
// the QR request also writes its PNG. Its display event is off
// (shell_integration false), so each request has one message out.
func BenchmarkFrame(b *testing.B) {
	b.Run("unhandled/ovos.session.sync", func(b *testing.B) {
		svc, _ := benchService(b)
		frame := sessionSync(b)
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if route(b, svc, frame) {
				b.Fatal("ovos.session.sync handled")
			}
		}
	})
	for _, typ := range []string{"oauth.get.app.host.info", "oauth.token.get", "oauth.get", "oauth.generate.qr.request"} {
		b.Run("handled/"+typ, func(b *testing.B) {
			svc, out := benchService(b)
			frame, err := json.Marshal(request(typ, map[string]any{"skill_id": "s", "app_id": "a"}))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !route(b, svc, frame) {
					b.Fatalf("%s not handled", typ)
				}
				<-out
			}
		})
	}
}

// typeChan is a bus.Handler that hands on the frames of one type.
type typeChan struct {
	typ string
	c   chan bus.Message
}

func (h typeChan) Handles(typ string) bool { return typ == h.typ }
func (h typeChan) Dispatch(m bus.Message)  { h.c <- m }
func (typeChan) Invalid(string, error)     {}

// runClient runs c with h until the benchmark ends and waits for its
// connection.
func runClient(b *testing.B, c *bus.Client, h bus.Handler) {
	b.Helper()
	up := make(chan struct{}, 1)
	c.OnConnect = func() {
		select {
		case up <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	b.Cleanup(func() { cancel(); <-done })
	<-up
}

// BenchmarkBusRequest is one request at concurrency 1 from a skill to the
// daemon and back, over the real websocket path through a Hub with Nagle's
// algorithm on, as tornado's ovos-messagebus has it: the skill and the
// daemon are bus.Clients; the bus relays each frame to both, as it does.
// The QR request includes opening a pending login in bbolt and writing the
// PNG.
func BenchmarkBusRequest(b *testing.B) {
	for _, tt := range []struct{ typ, reply string }{
		{"oauth.get.app.host.info", "oauth.app.host.info.response"},
		{"oauth.generate.qr.request", "oauth.generate.qr.response"},
	} {
		b.Run(tt.typ, func(b *testing.B) {
			url, _ := bustest.StartHub(b, func(h *bus.Hub) { h.NoDelay = false })
			logger := slog.New(slog.DiscardHandler)
			daemon := bus.NewClient(url, logger)
			svc, _ := runBenchService(b, daemon)
			runClient(b, daemon, svc)

			replies := typeChan{tt.reply, make(chan bus.Message, 1)}
			registered := typeChan{"oauth.register.response", make(chan bus.Message, 1)}
			skill := bus.NewClient(url, logger)
			runClient(b, skill, multiHandler{replies, registered})
			if err := skill.Send(request("oauth.register", map[string]any{"skill_id": "s", "app_id": "a", "client_id": "c",
				"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t", "shell_integration": false})); err != nil {
				b.Fatal(err)
			}
			<-registered.c
			req := request(tt.typ, map[string]any{"skill_id": "s", "app_id": "a"})
			b.ReportAllocs()
			for b.Loop() {
				if err := skill.Send(req); err != nil {
					b.Fatal(err)
				}
				<-replies.c
			}
		})
	}
}

// multiHandler routes each frame to the first handler that handles it.
type multiHandler []typeChan

func (m multiHandler) Handles(typ string) bool {
	for _, h := range m {
		if h.Handles(typ) {
			return true
		}
	}
	return false
}

func (m multiHandler) Dispatch(msg bus.Message) {
	for _, h := range m {
		if h.Handles(msg.Type) {
			h.Dispatch(msg)
			return
		}
	}
}

func (multiHandler) Invalid(string, error) {}
