package bus_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

func readFixtures() ([]byte, error) { return os.ReadFile("testdata/upstream-frames.jsonl") }

const greeting = `{"type":"connected","data":{},"context":{"session":{"session_id":"default"}}}`

// dialRaw connects a bare websocket client that sees the bytes on the wire.
func dialRaw(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readRaw(t *testing.T, conn *websocket.Conn) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	_, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return frame
}

func writeRaw(t *testing.T, conn *websocket.Conn, frame []byte) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestHubGreets(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	conn := dialRaw(t, url)
	if got := readRaw(t, conn); string(got) != greeting {
		t.Errorf("first frame = %s, want %s", got, greeting)
	}
	if got := hub.Clients(); got != 1 {
		t.Errorf("Clients() = %d, want 1", got)
	}
}

func TestHubServesOnlyItsRoute(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	_, resp, err := websocket.DefaultDialer.Dial(strings.TrimSuffix(url, "/core")+"/other", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Errorf("dial another path: err = %v, want a 404 handshake failure", err)
	}
}

func TestHubRelaysVerbatimToAllIncludingSender(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	conns := []*websocket.Conn{dialRaw(t, url), dialRaw(t, url), dialRaw(t, url)}
	for _, c := range conns {
		readRaw(t, c) // greeting
	}
	frames := [][]byte{
		upstreamFrame(t, "ovos.session.sync"),
		[]byte("{\n    \"type\": \"ovos.shell.oauth.register.credentials\",\n    \"data\": {\"a\": \"é & <b>\"},\n    \"context\": {}\n}"),
		[]byte(`{ "type" :"spaced" , "data":{ } }`),
		[]byte(`not json: relayed anyway`),
		[]byte(`{"type":"\u0061"}`),
		bytes.Repeat([]byte("x"), 100_000),
	}
	for _, f := range frames {
		writeRaw(t, conns[0], f)
	}
	for i, c := range conns {
		for j, want := range frames {
			if got := readRaw(t, c); !bytes.Equal(got, want) {
				t.Errorf("client %d frame %d = %.60q, want %.60q", i, j, got, want)
			}
		}
	}
}

// TestHubOrder has several clients send at once: every client must see
// every frame, and all in one order.
func TestHubOrder(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	const senders, each = 4, 200
	conns := make([]*websocket.Conn, senders)
	for i := range conns {
		conns[i] = dialRaw(t, url)
		readRaw(t, conns[i])
	}
	frame := func(s, n int) string {
		return `{"type":"test.seq","data":{"s":` + strconv.Itoa(s) + `,"n":` + strconv.Itoa(n) + `}}`
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s, c := range conns {
		wg.Go(func() {
			for n := range each {
				if err := c.WriteMessage(websocket.TextMessage, []byte(frame(s, n))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	orders := make([][]string, senders)
	for i, c := range conns {
		for range senders * each {
			orders[i] = append(orders[i], string(readRaw(t, c)))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 1; i < senders; i++ {
		if !slices.Equal(orders[i], orders[0]) {
			t.Fatalf("client %d saw another order than client 0", i)
		}
	}
	// Each sender's frames keep their order.
	next := make([]int, senders)
	for _, f := range orders[0] {
		for s := range senders {
			if strings.Contains(f, `"s":`+strconv.Itoa(s)+`,`) {
				if want := frame(s, next[s]); f != want {
					t.Fatalf("got %s, want %s", f, want)
				}
				next[s]++
			}
		}
	}
}

func TestHubDropsOversizedSenderOnly(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t, func(h *bus.Hub) { h.MaxMessageSize = 1024 })
	big := dialRaw(t, url)
	readRaw(t, big)
	p := bustest.Dial(t, url)

	writeRaw(t, big, []byte(`{"type":"test.big","data":{"x":"`+strings.Repeat("x", 2048)+`"}}`))
	_ = big.SetReadDeadline(time.Now().Add(waitLimit))
	_, _, err := big.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("oversized sender read error = %v, want close 1009", err)
	}
	polltest.Until(t, "the hub has one client", func() bool { return hub.Clients() == 1 })
	p.Send(t, bus.NewMessage("test.marker", nil))
	p.Expect(t, "test.marker")
	for _, m := range p.Seen() {
		if m.Type == "test.big" {
			t.Error("the oversized frame was relayed")
		}
	}
	// A frame at the limit still passes.
	ok := `{"type":"test.fits","data":{"x":"` + strings.Repeat("x", 1024-36) + `"}}`
	if len(ok) != 1024 {
		t.Fatalf("test frame is %d bytes", len(ok))
	}
	p.SendRaw(t, []byte(ok))
	p.Expect(t, "test.fits")
}

func TestHubCloseDropsEveryClient(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	conns := []*websocket.Conn{dialRaw(t, url), dialRaw(t, url), dialRaw(t, url)}
	for _, c := range conns {
		readRaw(t, c)
	}
	if got := hub.Clients(); got != 3 {
		t.Fatalf("Clients() = %d, want 3", got)
	}
	if err := hub.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := hub.Clients(); got != 0 {
		t.Errorf("Clients() after Close() = %d, want 0", got)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, _, err := c.ReadMessage(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("client %d read after Close() = %v, want the connection closed", i, err)
		}
	}
	// The hub accepts clients again, as a restarted bus would.
	p := bustest.Dial(t, url)
	p.Send(t, bus.NewMessage("test.again", nil))
	p.Expect(t, "test.again")
}

func TestHubDropsSlowClient(t *testing.T) {
	t.Parallel()
	url, hub := bustest.StartHub(t)
	slow := dialRaw(t, url) // never reads
	fast := dialRaw(t, url)
	readRaw(t, fast)
	// The slow client never reads its greeting, so nothing says the hub has
	// counted it yet: wait until it has, or the flood below ends at once.
	polltest.Until(t, "the hub to count both clients", func() bool { return hub.Clients() == 2 })
	var wg sync.WaitGroup
	wg.Go(func() { // keep up with the echoes
		for {
			if _, _, err := fast.NextReader(); err != nil {
				return
			}
		}
	})
	defer func() { fast.Close(); wg.Wait() }()

	frame := []byte(`{"type":"test.flood","data":{"x":"` + strings.Repeat("x", 2000) + `"}}`)
	deadline := time.Now().Add(waitLimit)
	for sent := 0; hub.Clients() == 2; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("slow client still connected after %d frames", sent)
		}
		writeRaw(t, fast, frame)
	}
	_ = slow.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Error("slow client's connection was not closed")
			}
			break
		}
	}
	if got := hub.Clients(); got != 1 {
		t.Errorf("Clients() = %d, want 1 (the fast one)", got)
	}
}

func TestHubServeStops(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hub := bus.NewHub(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Serve(ctx, ln) }()
	url := "ws://" + ln.Addr().String() + "/core"
	conn := dialRaw(t, url)
	readRaw(t, conn)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve() did not return after cancel")
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, _, err := conn.ReadMessage(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after Serve returned = %v, want the connection closed", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(url, nil); err == nil {
		t.Error("dial after Serve returned succeeded")
	}
	if got := hub.Clients(); got != 0 {
		t.Errorf("Clients() = %d, want 0", got)
	}
}

// TestHubBusyReaderGetsBackpressure: a client floods the hub and never
// reads; another reads everything but stops for a second (a daemon busy
// answering the flood) while its queue fills. The busy reader is not
// dropped: it stays connected and receives every frame, in order; the
// flood waits for it.
func TestHubBusyReaderGetsBackpressure(t *testing.T) {
	url, hub := bustest.StartHub(t)
	flooder := dialRaw(t, url) // never reads
	reader := dialRaw(t, url)
	readRaw(t, reader) // greeting
	polltest.Until(t, "the hub to count both clients", func() bool { return hub.Clients() == 2 })
	const flood = 20000
	var got []int
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for len(got) < flood {
			// Idle for 3 s: the flood is over (or its sender was dropped).
			_ = reader.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, frame, err := reader.ReadMessage()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
			if !bytes.Contains(frame, []byte("test.flood")) {
				continue
			}
			n, _ := strconv.Atoi(string(frame[bytes.LastIndexByte(frame, ':')+1 : len(frame)-2]))
			got = append(got, n)
			if len(got) == 2000 {
				time.Sleep(time.Second) // busy answering, while the flood fills its queue
			}
		}
	})
	pad := strings.Repeat("x", 200)
	sent := 0
	for i := range flood {
		frame := []byte(`{"type":"test.flood","data":{"pad":"` + pad + `","n":` + strconv.Itoa(i) + `}}`)
		if err := flooder.WriteMessage(websocket.TextMessage, frame); err != nil {
			break // dropped: the hub closed its connection, as it may
		}
		sent++
	}
	wg.Wait()
	if readErr != nil {
		t.Fatalf("the busy reader lost its connection: %v (after %d frames)", readErr, len(got))
	}
	if len(got) == 0 {
		t.Fatal("the reader got no flood frame")
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("frame %d is flood frame %d: frames were lost for the reader", i, n)
		}
	}
	if sent == flood && len(got) != flood {
		t.Errorf("the reader got %d of the %d frames the hub took", len(got), flood)
	}
	t.Logf("the flooder sent %d frames; the reader got %d", sent, len(got))
}
