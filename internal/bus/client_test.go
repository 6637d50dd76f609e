package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

const waitLimit = 10 * time.Second

// recorder is a Handler that queues the frames of the types it handles.
type recorder struct {
	types   map[string]bool
	msgs    chan bus.Message
	invalid chan string
}

func newRecorder(types ...string) *recorder {
	r := &recorder{types: map[string]bool{}, msgs: make(chan bus.Message, 4096), invalid: make(chan string, 4096)}
	for _, typ := range types {
		r.types[typ] = true
	}
	return r
}

func (r *recorder) Handles(typ string) bool     { return r.types[typ] }
func (r *recorder) Dispatch(m bus.Message)      { r.msgs <- m }
func (r *recorder) Invalid(typ string, _ error) { r.invalid <- typ }

// next returns the next dispatched message.
func (r *recorder) next(t *testing.T) bus.Message {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(waitLimit):
		t.Fatal("no message dispatched")
		return bus.Message{}
	}
}

// none fails t if a message is waiting.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-r.msgs:
		t.Errorf("unexpected dispatch of %s", m.Type)
	default:
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a Client whose Run goroutine the test owns, with h.
type running struct {
	*bus.Client
	h        bus.Handler
	connects chan struct{} // one value per OnConnect call
	stop     func()        // cancels Run and waits for it; idempotent
}

// newClient returns a Client with fast reconnects whose OnConnect reports on
// connects. configure runs before Run; the test's cleanup stops it.
func newClient(t *testing.T, url string, h bus.Handler, configure ...func(*bus.Client)) *running {
	t.Helper()
	c := bus.NewClient(url, testLogger(t))
	c.MinBackoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	r := &running{Client: c, h: h, connects: make(chan struct{}, 100)}
	c.OnConnect = func() { r.connects <- struct{}{} }
	for _, f := range configure {
		f(c)
	}
	return r
}

// start runs the Client until stop or the end of the test.
func (r *running) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, r.h) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run() = %v, want nil", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run() did not return after cancel")
			}
		})
	}
	t.Cleanup(r.stop)
}

// waitConnect waits for the next OnConnect.
func (r *running) waitConnect(t *testing.T) {
	t.Helper()
	select {
	case <-r.connects:
	case <-time.After(waitLimit):
		t.Fatal("client did not connect")
	}
}

func mustSend(t *testing.T, c *bus.Client, m bus.Message) {
	t.Helper()
	if err := c.Send(m); err != nil {
		t.Fatalf("Send(%s) = %v", m.Type, err)
	}
}

type seq struct {
	N int `json:"n"`
}

func seqOf(t *testing.T, m bus.Message) int {
	t.Helper()
	var s seq
	if err := m.DecodeData(&s); err != nil {
		t.Fatal(err)
	}
	return s.N
}

// expectSeq checks that p receives test.seq frames 0..n-1, in order.
func expectSeq(t *testing.T, p *bustest.Peer, n int) {
	t.Helper()
	for i := range n {
		if got := seqOf(t, p.Expect(t, "test.seq")); got != i {
			t.Fatalf("test.seq #%d has n = %d, want %d", i, got, i)
		}
	}
}

func TestClientDispatch(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	rec := newRecorder("connected", "test.handled", "test.marker")
	c := newClient(t, url, rec)
	c.start(t)
	c.waitConnect(t)
	if got := rec.next(t); got.Type != "connected" {
		t.Fatalf("first dispatch = %s, want the bus greeting", got.Type)
	}
	p := bustest.Dial(t, url)
	p.SendRaw(t, upstreamFrame(t, "ovos.session.sync"))
	for _, frame := range []string{
		`{"type":"test.unhandled","data":{"secret":"x"}}`,
		`{"data":{},"type":"test.unhandled"}`,
		`{"type":"test.handled","data":[1]}`, // peeks as handled, fails to decode
		`{"type":"test.handled","data":{`,    // truncated
		`{"type":"test.handled","type":"test.other"}`,
		`not json at all`,
		`[]`,
		``,
		"{\n  \"type\": \"test.handled\",\n  \"data\": {\"n\": 7}\n}",
		`{"type":"test.marker"}`,
	} {
		p.SendRaw(t, []byte(frame))
	}
	if got := rec.next(t); got.Type != "test.handled" || seqOf(t, got) != 7 {
		t.Errorf("dispatch = %s, want the valid test.handled frame", got.Type)
	}
	if got := rec.next(t); got.Type != "test.marker" {
		t.Errorf("dispatch = %s, want test.marker", got.Type)
	}
	rec.none(t)
	// The handled frames that did not decode were reported, so that their
	// senders get an error reply; unhandled and typeless ones were not.
	if n := len(rec.invalid); n != 3 {
		t.Errorf("%d frames reported invalid, want 3 (bad data, truncated, duplicate type)", n)
	}
	for range len(rec.invalid) {
		if typ := <-rec.invalid; typ != "test.handled" {
			t.Errorf("invalid frame reported as %q", typ)
		}
	}
	// The connection survived: no reconnect, and the client still sends.
	select {
	case <-c.connects:
		t.Error("client reconnected after malformed frames")
	default:
	}
	if !c.Connected() || hub.Clients() != 2 {
		t.Errorf("Connected() = %v, Clients() = %d, want true, 2", c.Connected(), hub.Clients())
	}
	mustSend(t, c.Client, bus.NewMessage("test.after", nil))
	p.Expect(t, "test.after")
}

func TestClientSendsQueuedFramesInOrder(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	c := newClient(t, url, newRecorder())
	const n = 200
	for i := range n {
		mustSend(t, c.Client, bus.NewMessage("test.seq", seq{i}))
	}
	if c.Connected() {
		t.Error("Connected() = true before Run")
	}
	p := bustest.Dial(t, url)
	c.start(t)
	expectSeq(t, p, n)
}

// TestClientSendGivesTheDefaultSession: what a Client sends carries a
// session, as what ovos-bus-client's emit sends does: the message's own,
// unchanged, or the default one (ovos-messagebus greets with it too).
func TestClientSendGivesTheDefaultSession(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	p := bustest.Dial(t, url)
	greeting := p.Seen()[0] // the "connected" Dial waited for
	c := newClient(t, url, newRecorder())
	c.start(t)
	own := `{"session_id":"abc","lang":"pt-PT","context":{"timeout":120}}`
	withOwn := bus.NewMessage("test.own", nil)
	withOwn.Context["session"] = json.RawMessage(own)
	without := bus.NewMessage("test.none", nil)
	without.Context["source"] = json.RawMessage(`"x"`)
	mustSend(t, c.Client, without)
	mustSend(t, c.Client, withOwn)
	if got := string(p.Expect(t, "test.none").Context["session"]); got != bus.DefaultSession || greeting.Type != "connected" || got != string(greeting.Context["session"]) {
		t.Errorf("session of a message sent without one = %q, want %s, as the bus's greeting", got, bus.DefaultSession)
	}
	if got := string(p.Expect(t, "test.own").Context["session"]); got != own {
		t.Errorf("session of a message sent with one = %s, want it unchanged: %s", got, own)
	}
	if _, ok := without.Context["session"]; ok {
		t.Error("Send added the session to the caller's context map")
	}
}

func TestClientReconnectsAfterHubClose(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	c := newClient(t, url, newRecorder())
	c.start(t)
	for round := range 3 {
		c.waitConnect(t)
		p := bustest.Dial(t, url)
		mustSend(t, c.Client, bus.NewMessage("test.round", seq{round}))
		if got := seqOf(t, p.Expect(t, "test.round")); got != round {
			t.Fatalf("round %d: got test.round %d", round, got)
		}
		hub.Close()
	}
}

// TestClientQueuesWhileDisconnected holds the client's reconnect in an HTTP
// gate so that it is certainly disconnected while frames are sent, and a
// peer is listening before it comes back.
func TestClientQueuesWhileDisconnected(t *testing.T) {
	t.Parallel()
	hub := bus.NewHub(nil)
	var (
		mu   sync.Mutex
		gate = make(chan struct{})
	)
	close(gate) // open for the first connect
	mux := http.NewServeMux()
	mux.Handle("/peer", hub)
	mux.HandleFunc("/core", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		g := gate
		mu.Unlock()
		select {
		case <-g:
			hub.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); srv.Close() })
	base := "ws" + strings.TrimPrefix(srv.URL, "http")

	c := newClient(t, base+"/core", newRecorder())
	c.start(t)
	c.waitConnect(t)

	mu.Lock()
	gate = make(chan struct{})
	mu.Unlock()
	hub.Close()
	polltest.Until(t, "the client is disconnected", func() bool { return !c.Connected() })
	const n = 100
	for i := range n {
		mustSend(t, c.Client, bus.NewMessage("test.seq", seq{i}))
	}
	p := bustest.Dial(t, base+"/peer")
	mu.Lock()
	close(gate)
	mu.Unlock()
	c.waitConnect(t)
	expectSeq(t, p, n)
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	t.Parallel()
	ln := bustest.ListenRestartable(t)
	addr := ln.Addr().String()
	serve := func(ln net.Listener) (stop func()) {
		hub := bus.NewHub(nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- hub.Serve(ctx, ln) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve() = %v", err)
				}
			})
		}
		t.Cleanup(stop)
		return stop
	}
	stop := serve(ln)
	url := "ws://" + addr + "/core"
	c := newClient(t, url, newRecorder())
	c.start(t)
	c.waitConnect(t)

	stop()
	polltest.Until(t, "the client is disconnected", func() bool { return !c.Connected() })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	serve(ln)
	c.waitConnect(t)
	p := bustest.Dial(t, url)
	mustSend(t, c.Client, bus.NewMessage("test.back", nil))
	p.Expect(t, "test.back")
}

// failConn fails its writes once armed, as a connection whose peer vanished.
type failConn struct {
	net.Conn
	armed *atomic.Bool
}

func (c failConn) Write(b []byte) (int, error) {
	if c.armed.Load() {
		c.Conn.Close()
		return 0, errors.New("injected write failure")
	}
	return c.Conn.Write(b)
}

func TestClientResendsFailedWrite(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	var (
		mu   sync.Mutex
		arms []*atomic.Bool // one per dialled connection
	)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) {
		c.Dialer = &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			armed := new(atomic.Bool)
			mu.Lock()
			arms = append(arms, armed)
			mu.Unlock()
			return failConn{conn, armed}, nil
		}}
	})
	p := bustest.Dial(t, url)
	c.start(t)
	c.waitConnect(t)
	mu.Lock()
	arms[0].Store(true)
	mu.Unlock()
	mustSend(t, c.Client, bus.NewMessage("test.precious", nil))
	c.waitConnect(t)
	mustSend(t, c.Client, bus.NewMessage("test.marker", nil))
	p.Expect(t, "test.precious")
	p.Expect(t, "test.marker")
	count := 0
	for _, m := range p.Seen() {
		if m.Type == "test.precious" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("test.precious arrived %d times, want once", count)
	}
}

func TestClientSendErrors(t *testing.T) {
	t.Parallel()
	c := bus.NewClient("ws://127.0.0.1:1/core", nil)
	c.OutboxSize = 3
	c.MaxMessageSize = 100
	for i := range 3 {
		if err := c.Send(bus.NewMessage("test.seq", seq{i})); err != nil {
			t.Fatalf("Send() #%d = %v, want nil", i, err)
		}
	}
	if err := c.Send(bus.NewMessage("test.seq", seq{3})); !errors.Is(err, bus.ErrOutboxFull) {
		t.Errorf("Send() on a full outbox = %v, want ErrOutboxFull", err)
	}

	c = bus.NewClient("ws://127.0.0.1:1/core", nil)
	c.MaxMessageSize = 100
	tests := []struct {
		name string
		m    bus.Message
	}{
		{"too large", bus.NewMessage("test.big", map[string]string{"x": strings.Repeat("x", 100)})},
		{"no type", bus.Message{}},
		{"data not an object", bus.Message{Type: "a", Data: json.RawMessage(`[1]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Send(tt.m); err == nil || errors.Is(err, bus.ErrOutboxFull) {
				t.Errorf("Send() = %v, want a non-outbox error", err)
			}
		})
	}
}

func TestClientRunErrors(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"http://127.0.0.1/core", "://bad", "127.0.0.1:8181"} {
		c := bus.NewClient(url, nil)
		if err := c.Run(context.Background(), newRecorder()); err == nil {
			t.Errorf("Run() with url %q = nil, want an error", url)
		}
	}
	url, _ := bustest.StartHub(t)
	c := newClient(t, url, newRecorder())
	c.start(t)
	c.waitConnect(t)
	if err := c.Run(context.Background(), newRecorder()); err == nil {
		t.Error("second concurrent Run() = nil, want an error")
	}
	if err := bus.NewClient(url, nil).Run(context.Background(), nil); err == nil {
		t.Error("Run() without a Handler = nil, want an error")
	}
}

// rawServer accepts websocket connections and hands them to the test.
func rawServer(t *testing.T) (url string, conns <-chan *websocket.Conn) {
	t.Helper()
	ch := make(chan *websocket.Conn, 10)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ch <- conn
	}))
	t.Cleanup(func() {
		srv.Close()
		for {
			select {
			case conn := <-ch:
				conn.Close()
			default:
				return
			}
		}
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/core", ch
}

func accept(t *testing.T, conns <-chan *websocket.Conn) *websocket.Conn {
	t.Helper()
	select {
	case conn := <-conns:
		t.Cleanup(func() { conn.Close() })
		return conn
	case <-time.After(waitLimit):
		t.Fatal("client did not connect")
		return nil
	}
}

func readType(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	_, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	typ, _ := bus.PeekType(frame)
	return typ
}

func TestClientWaitsForGreeting(t *testing.T) {
	t.Parallel()
	url, conns := rawServer(t)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) { c.GreetingTimeout = time.Hour })
	mustSend(t, c.Client, bus.NewMessage("test.queued", nil))
	c.start(t)
	conn := accept(t, conns)

	// Nothing may be written before the greeting. (This can only miss a
	// bug, never report one that is not there.)
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, frame, err := conn.ReadMessage(); err == nil {
		typ, _ := bus.PeekType(frame)
		t.Fatalf("client wrote %s before the greeting", typ)
	}
	select {
	case <-c.connects:
		t.Fatal("OnConnect ran before the greeting")
	default:
	}
	if c.Connected() {
		t.Error("Connected() = true before the greeting")
	}
	// A read deadline breaks a gorilla connection: take the next one.
	conn.Close()
	conn = accept(t, conns)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connected","data":{},"context":{}}`)); err != nil {
		t.Fatal(err)
	}
	c.waitConnect(t)
	if got := readType(t, conn); got != "test.queued" {
		t.Errorf("first frame after the greeting = %s, want test.queued", got)
	}
}

func TestClientProceedsWithoutGreeting(t *testing.T) {
	t.Parallel()
	url, conns := rawServer(t)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) { c.GreetingTimeout = 20 * time.Millisecond })
	mustSend(t, c.Client, bus.NewMessage("test.queued", nil))
	c.start(t)
	conn := accept(t, conns)
	if got := readType(t, conn); got != "test.queued" {
		t.Errorf("first frame = %s, want test.queued", got)
	}
	c.waitConnect(t)
}

func TestClientDetectsDeadConnection(t *testing.T) {
	t.Parallel()
	url, conns := rawServer(t)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) { bus.SetPingInterval(c, 20*time.Millisecond) })
	c.start(t)
	// The server greets but never reads, so it never answers a ping.
	conn := accept(t, conns)
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connected"}`)); err != nil {
		t.Fatal(err)
	}
	c.waitConnect(t)
	accept(t, conns) // the client gave up on the silent connection and came back
}

// clientGoroutines counts goroutines running the Client's code.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "internal/bus.(*Client)") {
			count++
		}
	}
	return count
}

func TestClientRunReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (url string, wait func(*running))
	}{{
		name: "connected",
		setup: func(t *testing.T) (string, func(*running)) {
			url, _ := bustest.StartHub(t)
			return url, func(c *running) { c.waitConnect(t) }
		},
	}, {
		name: "waiting for the greeting",
		setup: func(t *testing.T) (string, func(*running)) {
			url, conns := rawServer(t)
			return url, func(*running) { accept(t, conns) }
		},
	}, {
		name: "bus unreachable",
		setup: func(t *testing.T) (string, func(*running)) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln.Close() // nothing listens here now
			return "ws://" + ln.Addr().String() + "/core", func(*running) {}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, wait := tt.setup(t)
			c := newClient(t, url, newRecorder("connected"), func(c *bus.Client) { c.GreetingTimeout = time.Hour })
			c.start(t)
			wait(c)
			polltest.Until(t, "Run is running", func() bool { return clientGoroutines() > 0 })
			c.stop()
			if c.Connected() {
				t.Error("Connected() = true after Run returned")
			}
			if n := clientGoroutines(); n != 0 {
				t.Errorf("%d Client goroutines left after Run returned", n)
			}
		})
	}
}

// upstreamFrame returns the first frame of type typ from the fixtures.
func upstreamFrame(t testing.TB, typ string) []byte {
	t.Helper()
	data, err := readFixtures()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if got, _ := bus.PeekType([]byte(line)); got == typ {
			return []byte(line)
		}
	}
	t.Fatalf("no %s frame in the fixtures", typ)
	return nil
}

// echoHandler hands every bench.echo frame to a channel.
type echoHandler chan bus.Message

func (echoHandler) Handles(typ string) bool  { return typ == "bench.echo" }
func (h echoHandler) Dispatch(m bus.Message) { h <- m }
func (echoHandler) Invalid(string, error)    {}

// BenchmarkRoundTrip measures frames from the Client through the Hub and
// back to the same Client (the bus echoes to the sender): burst frames sent
// back to back, then all their echoes awaited. With nodelay=false and a
// burst of 2, the hub's second write waits for an ACK the client delays, as
// with tornado.
func BenchmarkRoundTrip(b *testing.B) {
	for _, noDelay := range []bool{true, false} {
		for _, burst := range []int{1, 2} {
			b.Run(fmt.Sprintf("nodelay=%v/burst=%d", noDelay, burst), func(b *testing.B) {
				benchRoundTrip(b, noDelay, burst)
			})
		}
	}
}

func benchRoundTrip(b *testing.B, noDelay bool, burst int) {
	url, _ := bustest.StartHub(b, func(h *bus.Hub) { h.NoDelay = noDelay })
	echo := make(echoHandler, burst)
	c := bus.NewClient(url, nil)
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
		for range burst {
			if err := c.Send(msg); err != nil {
				b.Fatal(err)
			}
		}
		for range burst {
			<-echo
		}
	}
}

// TestDialWrongRoute: a bus URL whose route the server does not serve is
// reported with the HTTP status and the URL, not a bare "bad handshake".
func TestDialWrongRoute(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	wrong := strings.TrimSuffix(url, "/core") + "/nope"
	logs := &lockedBuffer{}
	c := bus.NewClient(wrong, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.MinBackoff, c.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	r := &running{Client: c, h: newRecorder()}
	r.start(t)
	polltest.Until(t, "a log line with the status", func() bool { return strings.Contains(logs.String(), "404 Not Found") })
	r.stop()
	if out := logs.String(); !strings.Contains(out, "/nope") || !strings.Contains(out, "/core") {
		t.Errorf("log = %s, want the URL and a hint at the route", out)
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BenchmarkOthersFrames measures frames of another client reaching the
// Client through a hub with Nagle's algorithm on, as tornado has it: per
// op, two frames the Client does not handle and one it does, written back
// to back, the Client having written nothing. The hub writes the second
// and third only once the Client has ACKed the one before (Nagle), so an
// ACK the Client's kernel delayed would show here as ~40 ms per op.
func BenchmarkOthersFrames(b *testing.B) {
	url, _ := bustest.StartHub(b, func(h *bus.Hub) { h.NoDelay = false })
	echo := make(echoHandler, 1)
	c := bus.NewClient(url, nil)
	connected := make(chan struct{}, 1)
	c.OnConnect = func() { connected <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, echo) }()
	defer func() { cancel(); <-done }()
	<-connected
	other := bustest.Dial(b, url)
	noise := bus.NewMessage("bench.other", map[string]any{"utterances": []string{"what is the weather like tomorrow"}, "lang": "en-US"})
	msg := bus.NewMessage("bench.echo", map[string]string{"skill_id": "skill-demo.test", "app_id": "demoapp"})
	for b.Loop() {
		other.Send(b, noise)
		other.Send(b, noise)
		other.Send(b, msg)
		<-echo
	}
}
