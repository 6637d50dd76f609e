package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// replies is a Sender that hands on every message it is given.
type replies chan bus.Message

func (r replies) Send(m bus.Message) error { r <- m; return nil }

// benchService returns a running service on a real bbolt file, with app
// "s"/"a" registered, and the channel its messages go to.
func benchService(b *testing.B) (*api.Service, replies) {
	b.Helper()
	db := store.New(filepath.Join(b.TempDir(), "db"))
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	logger := slog.New(slog.DiscardHandler)
	e := oauth.NewEngine(db, "http://192.0.2.1:36536", logger)
	svc := api.New(e, qr.NewDir(b.TempDir()), "192.0.2.1", 36536, logger)
	out := make(replies, 16)
	svc.Sender = out
	e.Events = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	svc.Dispatch(request("oauth.register", map[string]any{"skill_id": "s", "app_id": "a", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t", "shell_integration": false}))
	<-out
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
