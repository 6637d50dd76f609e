package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

const (
	busKey   = "0123456789abcdef0123456789abcdef"
	otherKey = "fedcba9876543210fedcba9876543210"
)

// logBuffer collects a Client's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log records whose msg starts with prefix.
func (b *logBuffer) lines(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(b.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

// loggedClient is newClient with a log the test reads, started and
// connected.
func loggedClient(t *testing.T, url string, h bus.Handler, configure ...func(*bus.Client)) (*running, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cl := bus.NewClient(url, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	cl.MinBackoff, cl.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	c := &running{Client: cl, h: h, connects: make(chan struct{}, 100)}
	cl.OnConnect = func() { c.connects <- struct{}{} }
	for _, f := range configure {
		f(cl)
	}
	c.start(t)
	c.waitConnect(t)
	return c, logs
}

// encryptedClient is loggedClient with a Cipher for key.
func encryptedClient(t *testing.T, url, key string, h bus.Handler, configure ...func(*bus.Client)) (*running, *logBuffer) {
	t.Helper()
	c, logs := loggedClient(t, url, h, append([]func(*bus.Client){func(c *bus.Client) {
		c.Cipher = mustCipher(t, key)
		c.GreetingTimeout = time.Hour // the Hub's plain greeting must count
	}}, configure...)...)
	t.Cleanup(func() {
		if s := logs.String(); strings.Contains(s, busKey) || strings.Contains(s, otherKey) {
			t.Errorf("the log shows a key:\n%s", s)
		}
	})
	return c, logs
}

// isSealed reports whether frame is an encrypted frame on the wire: no
// message type, and it opens with c.
func isSealed(c *bus.Cipher, frame []byte) bool {
	if _, ok := bus.PeekType(frame); ok {
		return false
	}
	_, err := c.Open(frame)
	return err == nil
}

func TestHubRelaysEncryptedFrames(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	conns := []*websocket.Conn{dialRaw(t, url), dialRaw(t, url), dialRaw(t, url)}
	for _, c := range conns {
		readRaw(t, c) // greeting
	}
	c := mustCipher(t, busKey)
	sealed := c.Seal([]byte(`{"type":"oauth.get.app.host.info","data":{},"context":{}}`))
	var web map[string]string
	if err := json.Unmarshal(c.Seal(upstreamFrame(t, "oauth.register")), &web); err != nil {
		t.Fatal(err)
	}
	webFrame := []byte(`{"ciphertext": "` + web["ciphertext"] + web["tag"] + `", "nonce": "` + web["nonce"] + `"}`)
	frames := [][]byte{
		sealed,
		webFrame,
		mustCipher(t, otherKey).Seal([]byte(`{"type":"x"}`)), // a key the hub cannot know either
		[]byte("{\n \"ciphertext\": \"00\",\n \"tag\": \"11\",\n \"nonce\": \"22\"\n}"),
	}
	for _, f := range frames {
		writeRaw(t, conns[0], f)
	}
	for i, conn := range conns {
		for j, want := range frames {
			if got := readRaw(t, conn); !bytes.Equal(got, want) {
				t.Errorf("client %d frame %d = %.60q, want %.60q", i, j, got, want)
			}
		}
	}
}

func TestClientEncrypted(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	rec := newRecorder("test.handled", "test.marker", "connected")
	c, logs := encryptedClient(t, url, busKey, rec)
	cipher := mustCipher(t, busKey)
	p := bustest.DialCipher(t, url, cipher)

	// What the Client sends is sealed on the wire, and opens to the message.
	mustSend(t, c.Client, bus.NewMessage("test.out", seq{3}))
	if got := seqOf(t, p.Expect(t, "test.out")); got != 3 {
		t.Errorf("test.out n = %d, want 3", got)
	}
	for _, f := range p.Frames()[1:] { // after the Hub's plain greeting
		if !isSealed(cipher, f) {
			t.Errorf("frame on the wire is not encrypted: %.80s", f)
		}
	}

	// Sealed frames are dispatched; plain ones, even of a handled type, are
	// not, and neither is the Hub's plain greeting.
	p.Send(t, bus.NewMessage("test.handled", seq{1}))
	if got := rec.next(t); got.Type != "test.handled" || seqOf(t, got) != 1 {
		t.Fatalf("dispatch = %s, want the sealed test.handled", got.Type)
	}
	p.SendRaw(t, []byte(`{"type":"test.handled","data":{"n":2}}`))
	p.SendRaw(t, []byte(`{"type":"test.handled","data":{"n":3}}`))
	p.Send(t, bus.NewMessage("test.marker", nil))
	if got := rec.next(t); got.Type != "test.marker" {
		t.Fatalf("dispatch = %s (n=%d), want test.marker: plain frames must be dropped", got.Type, seqOf(t, got))
	}
	rec.none(t)
	if got := logs.lines(t, "dropping unencrypted bus frames"); len(got) != 1 || got[0]["type"] != "test.handled" {
		t.Errorf("refusal log lines = %v, want one naming test.handled", got)
	}

	// The Client's own frames come back to it: opened, and not dispatched
	// unless handled, as on a plain bus.
	mustSend(t, c.Client, bus.NewMessage("test.unhandled", nil))
	mustSend(t, c.Client, bus.NewMessage("test.handled", seq{9}))
	if got := rec.next(t); got.Type != "test.handled" || seqOf(t, got) != 9 {
		t.Errorf("dispatch = %s, want the client's own test.handled echo", got.Type)
	}
	if got := logs.lines(t, "cannot decrypt"); len(got) != 0 {
		t.Errorf("warnings about the key on a bus with one key: %v", got)
	}
	if got := logs.lines(t, "connected to bus"); len(got) != 1 || got[0]["encrypted"] != true {
		t.Errorf("connected log lines = %v, want one with encrypted=true", got)
	}
}

func TestClientAllowUnencrypted(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	rec := newRecorder("test.handled")
	c, logs := encryptedClient(t, url, busKey, rec, func(c *bus.Client) { c.AllowUnencrypted = true })
	cipher := mustCipher(t, busKey)
	p := bustest.DialCipher(t, url, cipher)

	p.SendRaw(t, []byte(`{"type":"test.handled","data":{"n":1}}`))
	p.Send(t, bus.NewMessage("test.handled", seq{2}))
	for want := 1; want <= 2; want++ {
		if got := rec.next(t); seqOf(t, got) != want {
			t.Errorf("dispatch n = %d, want %d", seqOf(t, got), want)
		}
	}
	// Sends are sealed all the same.
	mustSend(t, c.Client, bus.NewMessage("test.out", nil))
	p.Expect(t, "test.out")
	frames := p.Frames()
	if last := frames[len(frames)-1]; !isSealed(cipher, last) {
		t.Errorf("frame sent with AllowUnencrypted = %.80s, want it encrypted", last)
	}
	if got := logs.lines(t, "dropping unencrypted"); len(got) != 0 {
		t.Errorf("refusal lines with AllowUnencrypted: %v", got)
	}
}

// TestClientWrongKey: frames sealed with another key are dropped with one
// clear warning per burst, and the connection carries on.
func TestClientWrongKey(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	rec := newRecorder("test.handled", "test.marker")
	c, logs := encryptedClient(t, url, busKey, rec)
	wrong := bustest.DialCipher(t, url, mustCipher(t, otherKey))
	right := bustest.DialCipher(t, url, mustCipher(t, busKey))

	for i := range 20 {
		wrong.Send(t, bus.NewMessage("test.handled", seq{i}))
	}
	right.Send(t, bus.NewMessage("test.marker", nil))
	if got := rec.next(t); got.Type != "test.marker" {
		t.Fatalf("dispatch = %s, want test.marker: frames of another key must be dropped", got.Type)
	}
	rec.none(t)
	// The hub reads each sender on its own: the marker may overtake the
	// other key's frames. One warning comes however many follow it.
	polltest.Until(t, "the wrong-key warning", func() bool { return len(logs.lines(t, "cannot decrypt bus frames")) > 0 })
	warns := logs.lines(t, "cannot decrypt bus frames")
	if len(warns) != 1 {
		t.Fatalf("got %d warnings, want 1 per 10s:\n%s", len(warns), logs)
	}
	w := warns[0]
	if w["level"] != "WARN" || !strings.Contains(w["msg"].(string), "secret_key differs from ovos-oauth's") || w["frames"] != 1.0 {
		t.Errorf("warning = %v, want a WARN saying the secret_key differs, frames=1", w)
	}
	if !c.Connected() || hub.Clients() != 3 {
		t.Errorf("Connected() = %v, Clients() = %d; want true, 3", c.Connected(), hub.Clients())
	}
}

func TestClientMalformedEncryptedFrame(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	rec := newRecorder("test.marker")
	_, logs := encryptedClient(t, url, busKey, rec)
	p := bustest.DialCipher(t, url, mustCipher(t, busKey))
	p.SendRaw(t, []byte(`{"ciphertext":"not hex","nonce":"00"}`))
	p.Send(t, bus.NewMessage("test.marker", nil))
	rec.next(t)
	if got := logs.lines(t, "dropping malformed encrypted bus frames"); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Errorf("malformed-frame lines = %v, want one WARN", got)
	}
}

// TestClientWithoutKeyOnEncryptedBus: a Client without a key among skills
// that encrypt says so instead of ignoring everything in silence.
func TestClientWithoutKeyOnEncryptedBus(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	rec := newRecorder("test.marker")
	_, logs := loggedClient(t, url, rec)
	p := bustest.DialCipher(t, url, mustCipher(t, busKey))
	for range 5 {
		p.Send(t, bus.NewMessage("test.marker", nil))
	}
	p.SendRaw(t, []byte(`{"type":"test.marker"}`))
	if got := rec.next(t); got.Type != "test.marker" {
		t.Fatalf("dispatch = %s, want the plain test.marker", got.Type)
	}
	rec.none(t)
	if got := logs.lines(t, "cannot decrypt bus frames: the bus is encrypted but ovos-oauth has no secret key"); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Errorf("warnings = %v, want one WARN:\n%s", got, logs)
	}
}

// TestClientDropsReplayedFrames: an encrypted frame captured on the bus and
// sent again, byte for byte, is dropped with one warning per burst: once on
// the same connection, and again after the Client has reconnected. The
// Client's own frames, which the bus relays back to it, are not replays.
func TestClientDropsReplayedFrames(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	rec := newRecorder("test.handled", "test.marker")
	c, logs := encryptedClient(t, url, busKey, rec)
	skill := bustest.DialCipher(t, url, mustCipher(t, busKey))
	eve := bustest.Dial(t, url) // on the bus without the key

	skill.Send(t, bus.NewMessage("test.handled", seq{1}))
	if got := rec.next(t); got.Type != "test.handled" || seqOf(t, got) != 1 {
		t.Fatalf("dispatch = %s, want the sealed test.handled", got.Type)
	}
	captured := firstFrame(t, eve)
	for range 4 {
		eve.SendRaw(t, captured)
	}
	// The hub relays each sender's frames in order, but two senders' frames
	// may interleave: the marker goes the replays' way, through eve.
	eve.SendRaw(t, mustCipher(t, busKey).Seal([]byte(`{"type":"test.marker","data":{},"context":{}}`)))
	if got := rec.next(t); got.Type != "test.marker" {
		t.Fatalf("dispatch = %s (n=%d), want test.marker: a replayed frame must be dropped", got.Type, seqOf(t, got))
	}
	rec.none(t)
	warns := logs.lines(t, "dropping replayed bus frames")
	if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["type"] != "test.handled" || warns[0]["frames"] != 1.0 {
		t.Errorf("replay warnings = %v, want one WARN naming test.handled, frames=1 (the others held back)", warns)
	}

	// The Client's own frames come back once each, and are not replays.
	for i := range 3 {
		mustSend(t, c.Client, bus.NewMessage("test.handled", seq{10 + i}))
		if got := rec.next(t); seqOf(t, got) != 10+i {
			t.Errorf("own echo n = %d, want %d", seqOf(t, got), 10+i)
		}
	}

	// A bus restart does not make the frame new again.
	hub.Close()
	c.waitConnect(t)
	eve = bustest.Dial(t, url)
	eve.SendRaw(t, captured)
	eve.SendRaw(t, mustCipher(t, busKey).Seal([]byte(`{"type":"test.marker","data":{},"context":{}}`)))
	if got := rec.next(t); got.Type != "test.marker" {
		t.Fatalf("after reconnecting, dispatch = %s (n=%d), want test.marker: a replayed frame must be dropped", got.Type, seqOf(t, got))
	}
	rec.none(t)
	if got := logs.lines(t, "cannot decrypt"); len(got) != 0 {
		t.Errorf("key warnings on a bus with one key: %v", got)
	}
}

// firstFrame waits for p's first frame after the greeting and returns it as
// it was on the wire.
func firstFrame(t *testing.T, p *bustest.Peer) []byte {
	t.Helper()
	polltest.Until(t, "a frame after the greeting", func() bool { return len(p.Frames()) >= 2 })
	return p.Frames()[1]
}

func TestClientSendLimitAppliesToSealedFrame(t *testing.T) {
	t.Parallel()
	plain := bus.NewMessage("test.big", map[string]string{"x": strings.Repeat("a", 600)})
	frame, _ := plain.WithSession().MarshalJSON() // as Send writes it
	c := bus.NewClient("ws://127.0.0.1:1/core", nil)
	c.MaxMessageSize = int64(len(frame) + 10)
	if err := c.Send(plain); err != nil {
		t.Fatalf("plain Send() = %v, want nil", err)
	}
	c.Cipher = mustCipher(t, busKey)
	if err := c.Send(plain); err == nil || errors.Is(err, bus.ErrOutboxFull) {
		t.Errorf("sealed Send() = %v, want an error: sealed, the frame is larger than MaxMessageSize", err)
	}
}

// BenchmarkRoundTripEncrypted is BenchmarkRoundTrip's nodelay=true/burst=1
// case on an encrypted bus: each frame is sealed, relayed, and opened.
func BenchmarkRoundTripEncrypted(b *testing.B) {
	url, _ := bustest.StartHub(b)
	echo := make(echoHandler, 1)
	c := bus.NewClient(url, nil)
	c.Cipher = mustCipher(b, busKey)
	connected := make(chan struct{}, 1)
	c.OnConnect = func() { connected <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, echo) }()
	defer func() { cancel(); <-done }()
	<-connected
	msg := bus.NewMessage("bench.echo", map[string]string{"skill_id": "skill-demo.test", "app_id": "demoapp"})
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(msg); err != nil {
			b.Fatal(err)
		}
		<-echo
	}
}

func BenchmarkCipher(b *testing.B) {
	c := mustCipher(b, busKey)
	frame := upstreamFrame(b, "oauth.register")
	sealed := c.Seal(frame)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			c.Seal(frame)
		}
	})
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Open(sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open/plain", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Open(frame); !errors.Is(err, bus.ErrNotEncrypted) {
				b.Fatal(err)
			}
		}
	})
}
