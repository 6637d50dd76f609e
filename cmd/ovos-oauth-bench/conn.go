package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// errLost is a request that got no reply within the timeout.
var errLost = errors.New("no reply")

// conn is one client of the bus, as a skill is: every frame it sends comes
// back to it, with every other client's. Requests carry a unique
// context.bench_id, which replies copy (ovos-bus-client's reply, response
// and forward all do), so a reply is matched to its request by that id and
// the reply type, whatever else is on the bus. Safe for concurrent use.
type conn struct {
	ws      *websocket.Conn
	prefix  string // of this conn's bench ids
	seq     atomic.Uint64
	writeMu sync.Mutex

	mu       sync.Mutex
	pending  map[string]*call           // by bench id
	wanted   map[string]int             // pending calls by reply type
	watchers map[string][]chan<- []byte // by frame type, for events
	err      error                      // why reading stopped
	done     chan struct{}              // closed when reading stops

	// onFrame, if set before Dial returns, sees every frame (in the
	// reader goroutine, so it must not block): the echo responder.
	onFrame func(c *conn, f frameHead, frame []byte)
}

// call is one request waiting for its reply.
type call struct {
	want  string      // the reply's type
	reply chan []byte // gets the reply frame; buffered
}

// frameHead is what the bench reads of every frame.
type frameHead struct {
	Type    string          `json:"type"`
	Context json.RawMessage `json:"context"`
}

// benchID reads context.bench_id; "" when there is none.
func (f frameHead) benchID() string {
	var ctx struct {
		BenchID string `json:"bench_id"`
	}
	if len(f.Context) == 0 || json.Unmarshal(f.Context, &ctx) != nil {
		return ""
	}
	return ctx.BenchID
}

// dial connects to the bus at url and waits for its "connected" greeting:
// a client that sends before it may miss frames.
func dial(url, prefix string, onFrame func(*conn, frameHead, []byte)) (*conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial the bus at %s: %w", url, err)
	}
	ws.SetReadLimit(32 << 20)
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, greeting, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("bus at %s: waiting for its greeting: %w", url, err)
	}
	var head frameHead
	if json.Unmarshal(greeting, &head) != nil || head.Type != "connected" {
		ws.Close()
		return nil, fmt.Errorf("bus at %s greeted with %.80q, want a connected message", url, greeting)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c := &conn{
		ws: ws, prefix: prefix,
		pending: map[string]*call{}, wanted: map[string]int{}, watchers: map[string][]chan<- []byte{},
		done: make(chan struct{}), onFrame: onFrame,
	}
	go c.read()
	return c, nil
}

func (c *conn) read() {
	defer close(c.done)
	for {
		_, frame, err := c.ws.ReadMessage()
		quickAck(c.ws.NetConn())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		// Most frames on the bus are for someone else: their type is
		// enough to skip them, so that the bench's clients take little of
		// the CPU the daemon is measured on.
		typ, ok := bus.PeekType(frame)
		if !ok || !c.wants(typ) {
			continue // not a message (the bus relays anything), or not ours
		}
		var head frameHead
		if json.Unmarshal(frame, &head) != nil {
			continue
		}
		if c.onFrame != nil {
			c.onFrame(c, head, frame)
		}
		c.deliver(head, frame)
	}
}

// wants reports whether a frame of type typ may be for this conn.
func (c *conn) wants(typ string) bool {
	if c.onFrame != nil {
		return typ == typeEcho
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wanted[typ] > 0 || len(c.watchers[typ]) > 0
}

// deliver hands frame to the request it answers and to the watchers of its
// type.
func (c *conn) deliver(head frameHead, frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watchers[head.Type] {
		select {
		case w <- frame:
		default: // the watcher has what it needs
		}
	}
	if len(c.pending) == 0 {
		return
	}
	id := head.benchID()
	if cl, ok := c.pending[id]; ok && cl.want == head.Type {
		c.removeLocked(id, cl)
		cl.reply <- frame
	}
}

// watch returns a channel that gets frames of type typ from now on (those
// that arrive while it is full are dropped), and a function to stop.
func (c *conn) watch(typ string, buffer int) (<-chan []byte, func()) {
	ch := make(chan []byte, buffer)
	c.mu.Lock()
	c.watchers[typ] = append(c.watchers[typ], ch)
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		ws := c.watchers[typ]
		for i, w := range ws {
			if w == chan<- []byte(ch) {
				c.watchers[typ] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
		if len(c.watchers[typ]) == 0 {
			delete(c.watchers, typ)
		}
	}
}

// newID returns a bench id no other request of this process has.
func (c *conn) newID() string {
	return c.prefix + strconv.FormatUint(c.seq.Add(1), 10)
}

// encodeFrame builds a request frame. The session is the default one, as
// ovos-bus-client adds it to every message.
func encodeFrame(typ string, data json.RawMessage, id string) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	ctx := map[string]any{"session": json.RawMessage(bus.DefaultSession)}
	if id != "" {
		ctx["bench_id"] = id
	}
	frame, err := json.Marshal(struct {
		Type    string          `json:"type"`
		Data    json.RawMessage `json:"data"`
		Context map[string]any  `json:"context"`
	}{typ, data, ctx})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return frame, nil
}

func (c *conn) sendRaw(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("send to the bus: %w", err)
	}
	return nil
}

// request sends typ with data and waits up to timeout for the reply of
// type want that carries the request's bench id. It returns the reply
// frame and the time from just before the send to its arrival; errLost if
// none came in time, or why the connection failed.
func (c *conn) request(typ string, data json.RawMessage, want string, timeout time.Duration) ([]byte, time.Duration, error) {
	id := c.newID()
	frame, err := encodeFrame(typ, data, id)
	if err != nil {
		return nil, 0, err
	}
	cl := &call{want: want, reply: make(chan []byte, 1)}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, 0, fmt.Errorf("bus connection: %w", err)
	}
	c.pending[id] = cl
	c.wanted[want]++
	c.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	start := time.Now()
	if err := c.sendRaw(frame); err != nil {
		c.forget(id)
		return nil, 0, err
	}
	select {
	case reply := <-cl.reply:
		return reply, time.Since(start), nil
	case <-timer.C:
		c.forget(id)
		return nil, 0, errLost
	case <-c.done:
		c.forget(id)
		return nil, 0, fmt.Errorf("bus connection: %w", c.readErr())
	}
}

func (c *conn) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.pending[id]; ok {
		c.removeLocked(id, cl)
	}
}

func (c *conn) removeLocked(id string, cl *call) {
	delete(c.pending, id)
	if c.wanted[cl.want]--; c.wanted[cl.want] <= 0 {
		delete(c.wanted, cl.want)
	}
}

func (c *conn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and waits for its reader to stop.
func (c *conn) Close() error {
	err := c.ws.Close()
	<-c.done
	return err
}

// echoResponder is the floor: a second client that answers bench.echo with
// bench.echo.response carrying the request's context, so a floor request
// crosses the bus twice as a request to the daemon and its reply do.
func echoResponder(c *conn, head frameHead, _ []byte) {
	if head.Type != typeEcho {
		return
	}
	frame, err := json.Marshal(struct {
		Type    string          `json:"type"`
		Data    json.RawMessage `json:"data"`
		Context json.RawMessage `json:"context"`
	}{typeEchoReply, json.RawMessage("{}"), head.Context})
	if err != nil {
		return // the context came off the wire as JSON: unreachable
	}
	_ = c.sendRaw(frame)
}

const (
	typeEcho      = "bench.echo"
	typeEchoReply = "bench.echo.response"
)
