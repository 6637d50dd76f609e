// Package bustest runs the project's tests against a real OVOS-compatible
// messagebus: StartHub serves a bus.Hub on loopback, and Peer is a raw
// websocket client that plays a skill, the GUI or any other bus client.
package bustest

import (
	"context"
	"log/slog"
	"math/rand/v2"
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
)

// Timeout is how long Dial and Expect wait before failing the test.
const Timeout = 10 * time.Second

// StartHub serves a new bus.Hub on 127.0.0.1 at a free port until the test
// ends, and returns its URL (ws://127.0.0.1:PORT/core) and the Hub. Each
// configure function may set the Hub's fields before it starts serving
// (changing them afterwards is a data race), e.g. to turn NoDelay off.
// Cleanup stops the server and waits for all of its goroutines.
func StartHub(t testing.TB, configure ...func(*bus.Hub)) (url string, hub *bus.Hub) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("bustest: listen: %v", err)
	}
	hub = bus.NewHub(slog.New(slog.DiscardHandler))
	for _, f := range configure {
		f(hub)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bustest: hub: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + hub.Route, hub
}

// Peer is a raw websocket client on the bus, playing a skill. A background
// goroutine reads and buffers every frame; Expect and ExpectFunc take frames
// from that buffer, each frame at most once, in arrival order. Its methods
// that take a testing.TB may fail the test, so call them from the test's
// goroutine; Seen, Frames and Close are safe from any goroutine.
type Peer struct {
	conn      *websocket.Conn
	cipher    *bus.Cipher // nil on a plain bus
	writeMu   sync.Mutex
	readDone  chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	frames  [][]byte // every frame read, as it was on the wire
	seen    []bus.Message
	taken   []bool
	head    int           // every frame before head is taken
	changed chan struct{} // closed and replaced whenever seen or err changes
	err     error         // why reading stopped
}

// Dial connects a Peer to the bus at url and waits for the bus's
// "connected" greeting, which it consumes. The test's cleanup closes it.
func Dial(t testing.TB, url string) *Peer {
	t.Helper()
	return dial(t, url, nil)
}

// DialCipher is Dial for a skill on an encrypted bus (websocket.secret_key
// set): Send seals each message with c, and frames that open with c are
// received as their plaintext. Plain frames are received as they are (the
// bus greets in plain); Frames tells the two apart. SendRaw sends as it is.
func DialCipher(t testing.TB, url string, c *bus.Cipher) *Peer {
	t.Helper()
	return dial(t, url, c)
}

func dial(t testing.TB, url string, c *bus.Cipher) *Peer {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: Timeout}
	conn, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("bustest: dial %s: %v", url, err)
	}
	p := &Peer{conn: conn, cipher: c, readDone: make(chan struct{}), changed: make(chan struct{})}
	go p.read()
	t.Cleanup(p.Close)
	p.Expect(t, "connected")
	return p
}

func (p *Peer) read() {
	defer close(p.readDone)
	for {
		_, frame, err := p.conn.ReadMessage()
		p.mu.Lock()
		if err != nil {
			p.err = err
		} else {
			p.frames = append(p.frames, frame)
			msg := frame
			if p.cipher != nil {
				if plain, oerr := p.cipher.Open(frame); oerr == nil {
					msg = plain
				}
			}
			if m, derr := bus.Decode(msg); derr == nil {
				// Frames that do not decode (or open) are not
				// messages; tests that send them look for what
				// follows.
				p.seen = append(p.seen, m)
				p.taken = append(p.taken, false)
			}
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// SendRaw writes frame to the bus as one text frame, as it is.
func (p *Peer) SendRaw(t testing.TB, frame []byte) {
	t.Helper()
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if err := p.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("bustest: send: %v", err)
	}
}

// Send writes m to the bus, sealed if the Peer is from DialCipher.
func (p *Peer) Send(t testing.TB, m bus.Message) {
	t.Helper()
	frame, err := m.MarshalJSON()
	if err != nil {
		t.Fatalf("bustest: encode %s: %v", m.Type, err)
	}
	if p.cipher != nil {
		frame = p.cipher.Seal(frame)
	}
	p.SendRaw(t, frame)
}

// Expect returns the first frame of type msgType not yet returned by
// Expect or ExpectFunc, waiting for it if need be. It fails the test if none
// arrives within Timeout or the connection ends first.
func (p *Peer) Expect(t testing.TB, msgType string) bus.Message {
	t.Helper()
	return p.expect(t, "a "+msgType+" frame", func(m bus.Message) bool { return m.Type == msgType })
}

// ExpectFunc is Expect for the first frame that match accepts. match runs
// with the Peer's lock held: it must not call the Peer's methods.
func (p *Peer) ExpectFunc(t testing.TB, match func(bus.Message) bool) bus.Message {
	t.Helper()
	return p.expect(t, "a matching frame", match)
}

func (p *Peer) expect(t testing.TB, what string, match func(bus.Message) bool) bus.Message {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for i := p.head; i < len(p.seen); i++ {
			if p.taken[i] || !match(p.seen[i]) {
				continue
			}
			p.taken[i] = true
			for p.head < len(p.taken) && p.taken[p.head] {
				p.head++
			}
			m := p.seen[i]
			p.mu.Unlock()
			return m
		}
		err, changed, types := p.err, p.changed, p.typesLocked()
		p.mu.Unlock()
		if err != nil {
			t.Fatalf("bustest: waiting for %s: connection ended: %v (saw %v)", what, err, types)
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("bustest: no %s within %v (saw %v)", what, Timeout, types)
		}
	}
}

// typesLocked lists the types seen, for failure messages (never contents:
// frames may carry tokens).
func (p *Peer) typesLocked() []string {
	types := make([]string, len(p.seen))
	for i, m := range p.seen {
		types[i] = m.Type
	}
	return types
}

// Seen returns every message received so far, in arrival order, whether
// Expect has returned it or not (frames that do not decode are left out).
// With a marker frame sent last, it shows that something did not arrive.
func (p *Peer) Seen() []bus.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// Frames returns every frame received so far exactly as it came off the
// wire, in arrival order, including those that did not decode or open (and
// the greeting). The caller must not modify their bytes.
func (p *Peer) Frames() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.frames)
}

// Close disconnects the Peer and waits for its reader to exit. Idempotent.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		p.conn.Close()
		<-p.readDone
	})
}

// ListenRestartable listens on 127.0.0.1 at a free port below the kernel's
// range of ephemeral ports, for a test that stops a server and starts it
// again at the same address. A port from the ephemeral range (what
// "127.0.0.1:0" gives) may be taken meanwhile by any connection another
// test or process opens; one below it only by a listener that names it.
func ListenRestartable(t testing.TB) net.Listener {
	t.Helper()
	low := 32768 // Linux's default start of the range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const from = 10000
	if low <= from+1000 {
		low = 65536 // an unusual range: any port from 10000 will do
	}
	for range 200 {
		port := from + rand.IntN(low-from)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port below the ephemeral range after 200 tries")
	return nil
}
