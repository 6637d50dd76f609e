//go:build linux

package bus_test

import (
	"context"
	"errors"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

// tapConn counts the writes on a TCP connection made from within
// Client.SendNow, and fails its writes once armed, as a connection whose
// peer vanished. It exposes the socket, as *tls.Conn does, so the Client
// can tell how full it is.
type tapConn struct {
	*net.TCPConn
	inSendNow atomic.Int32
	armed     atomic.Bool
}

func (c *tapConn) NetConn() net.Conn { return c.TCPConn }

func (c *tapConn) Write(b []byte) (int, error) {
	// The writing goroutine's own frames, not where it was started.
	stack, _, _ := strings.Cut(string(debug.Stack()), "\ncreated by ")
	if strings.Contains(stack, "bus.(*Client).SendNow(") {
		c.inSendNow.Add(1)
	}
	if c.armed.Load() {
		c.TCPConn.Close()
		return 0, errors.New("injected write failure")
	}
	return c.TCPConn.Write(b)
}

// tapDialer is a websocket.Dialer whose connections go to conns.
func tapDialer(conns chan<- *tapConn) *websocket.Dialer {
	return &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &tapConn{TCPConn: c.(*net.TCPConn)}
		conns <- tc
		return tc, nil
	}}
}

// TestSendNowWritesBeforeReturning: with nothing queued, SendNow writes
// the frame itself, on the caller's goroutine (no hand-over to the
// writer), and the bus gets it once.
func TestSendNowWritesBeforeReturning(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t, func(h *bus.Hub) { h.NoDelay = false })
	conns := make(chan *tapConn, 10)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) { c.Dialer = tapDialer(conns) })
	p := bustest.Dial(t, url)
	c.start(t)
	c.waitConnect(t)
	tc := <-conns
	for i := range 20 {
		if err := c.SendNow(bus.NewMessage("test.seq", seq{i})); err != nil {
			t.Fatal(err)
		}
		if got := tc.inSendNow.Load(); got != int32(i+1) {
			t.Fatalf("after %d SendNow, %d frames written from within it, want all", i+1, got)
		}
		if got := seqOf(t, p.Expect(t, "test.seq")); got != i {
			t.Fatalf("frame %d arrived as %d", i, got)
		}
	}
}

// TestSendNowKeepsOrder: frames given to Send and SendNow, from one
// goroutine or several, arrive in the order each goroutine gave them,
// each once: SendNow never passes a frame queued before it.
func TestSendNowKeepsOrder(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t, func(h *bus.Hub) { h.NoDelay = false })
	c := newClient(t, url, newRecorder())
	p := bustest.Dial(t, url)
	c.start(t)
	c.waitConnect(t)
	const n, senders = 300, 3
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range n {
				m := bus.NewMessage("test.order", map[string]int{"s": s, "n": i})
				send := c.Send
				if (i/3+s)%2 == 0 { // runs of each
					send = c.SendNow
				}
				if err := send(m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make([]int, senders)
	for range n * senders {
		var d struct{ S, N int }
		if err := p.Expect(t, "test.order").DecodeData(&d); err != nil {
			t.Fatal(err)
		}
		if d.N != next[d.S] {
			t.Fatalf("sender %d: frame %d arrived when %d was next", d.S, d.N, next[d.S])
		}
		next[d.S]++
	}
}

// TestSendNowFailedWriteResent: a frame whose direct write fails is not
// lost: it goes out on the next connection, once, before what was sent
// after it.
func TestSendNowFailedWriteResent(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	conns := make(chan *tapConn, 10)
	c := newClient(t, url, newRecorder(), func(c *bus.Client) { c.Dialer = tapDialer(conns) })
	p := bustest.Dial(t, url)
	c.start(t)
	c.waitConnect(t)
	tc := <-conns
	tc.armed.Store(true)
	if err := c.SendNow(bus.NewMessage("test.precious", nil)); err != nil {
		t.Fatal(err)
	}
	if tc.inSendNow.Load() != 1 {
		t.Fatal("SendNow did not write itself")
	}
	mustSend(t, c.Client, bus.NewMessage("test.marker", nil))
	c.waitConnect(t)
	p.Expect(t, "test.marker")
	var got []string
	for _, m := range p.Seen() {
		if m.Type == "test.precious" || m.Type == "test.marker" {
			got = append(got, m.Type)
		}
	}
	if len(got) != 2 || got[0] != "test.precious" {
		t.Errorf("the bus got %v, want test.precious once, then test.marker", got)
	}
}
