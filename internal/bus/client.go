package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// ErrOutboxFull is returned by Client.Send when OutboxSize frames are already
// waiting to be written.
var ErrOutboxFull = errors.New("bus: outbox full")

// Handler receives the frames a Client reads. Its methods are called from
// the Client's read goroutine, one frame at a time and in the order the bus
// sent them, and never after Run has returned.
type Handler interface {
	// Handles reports whether the daemon wants frames of this type. It is
	// called on every frame, before any decoding, so it must be cheap.
	Handles(msgType string) bool
	// Dispatch receives a decoded frame whose type Handles accepted. It
	// must not block: the read loop waits for it, so an implementation
	// queues the work.
	Dispatch(msg Message)
	// Invalid is told of a frame whose type Handles accepted but which does
	// not decode (data not an object, truncated JSON, …), so that the
	// request still gets its one reply. It must not block either.
	Invalid(msgType string, err error)
}

const (
	defaultMinBackoff      = 200 * time.Millisecond
	defaultMaxBackoff      = 15 * time.Second
	defaultGreetingTimeout = 3 * time.Second
	defaultMaxMessageSize  = 25 << 20 // ovos-messagebus's websocket.max_msg_size default, 25 MB
	defaultOutboxSize      = 4096
	defaultPingInterval    = 30 * time.Second
	writeTimeout           = 10 * time.Second
	handshakeTimeout       = 10 * time.Second
	// maxIdleBuffer bounds the read buffer a Client keeps between frames,
	// so one huge frame does not pin its size for the connection's life.
	maxIdleBuffer = 1 << 20
)

// Client is the daemon's connection to the OVOS messagebus. Run dials, reads
// and writes, and reconnects with backoff until its context ends; Send
// queues frames whether or not a connection is up.
//
// The exported fields are set to defaults by NewClient and may be changed
// before Run is called, not after. Send and Connected are safe for
// concurrent use, also while Run is running; Run must not be called twice at
// once.
type Client struct {
	// MinBackoff and MaxBackoff bound the delay between connection
	// attempts: capped exponential with full jitter above MinBackoff,
	// starting again from MinBackoff after every connection that was
	// established. Defaults 200ms and 15s.
	MinBackoff, MaxBackoff time.Duration
	// GreetingTimeout is how long a new connection waits for the bus's
	// "connected" frame before writing (a client that sends earlier may
	// miss frames). If it never comes, the Client logs and proceeds.
	// Default 3s; zero or less does not wait.
	GreetingTimeout time.Duration
	// MaxMessageSize is the largest frame read or sent, in bytes. A larger
	// incoming frame ends the connection (gorilla cannot skip it); Send
	// refuses a larger outgoing one, which the bus would echo back.
	// Default 25 MiB, like ovos-messagebus.
	MaxMessageSize int64
	// OutboxSize bounds the frames waiting to be written. Default 4096.
	OutboxSize int
	// OnConnect, if set, is called after each (re)connect once the bus has
	// greeted, on the connection's writer goroutine before it writes the
	// queued frames: it may call Send but must not block.
	OnConnect func()
	// Dialer dials the bus. Default: a 10s handshake timeout and no proxy.
	Dialer *websocket.Dialer
	// Cipher, if set, speaks the encrypted bus that OVOS runs when
	// mycroft.conf sets websocket.secret_key: Send seals every frame, and
	// every encrypted frame read is opened before it is routed (the
	// Client's own frames, which the bus echoes, too). A frame that does
	// not decrypt is dropped with a warning, at most one every 10s, that
	// the bus's key is not this one; so is a malformed encrypted frame,
	// with another, and so is a replay: a frame whose nonce came before,
	// within the last hour or the last 32,768 frames, whichever is fewer
	// (the count bounds the memory this takes), across reconnects but not
	// across restarts. Set it before the first Send.
	Cipher *Cipher
	// AllowUnencrypted, with a Cipher, routes plain frames as well, like
	// OVOS's websocket.allow_unencrypted. Otherwise they are dropped, with
	// a line at info at most once a minute; only the bus's plain
	// "connected" greeting still counts, as the greeting. Without a Cipher
	// every frame is plain and this is ignored.
	AllowUnencrypted bool

	url    string
	logURL string // url without what may be secret in it, for logs and errors
	logger *slog.Logger
	// pingInterval paces websocket pings, which find a dead TCP connection;
	// tests shorten it.
	pingInterval time.Duration

	running   atomic.Bool
	connected atomic.Bool

	// Rate limits of the read loop's complaints about frames it cannot
	// use, and the nonces of the frames it opened; only the read loop (one
	// at a time) touches them.
	wrongKey, malformed, refused, noKey, replayed logEvery
	replays                                       replayGuard

	mu     sync.Mutex
	outbox [][]byte // encoded frames, oldest first; the head is popped only once written
	wake   chan struct{}
	// direct is the connection SendNow may write on, set by the writer
	// while it is up and greeted; nil otherwise. Under mu.
	direct *directConn
	// writing is held across every data frame written, by the writer or
	// by SendNow: a gorilla connection takes one writer at a time, and a
	// frame SendNow writes must not pass one the writer has in hand.
	writing sync.Mutex

	// Watchers of Watch and Request; nwatch lets the read loop skip them
	// without a lock when there are none, as in the daemon.
	wmu      sync.Mutex
	watchers map[*watcher]struct{}
	nwatch   atomic.Int32
}

// NewClient returns a Client for the bus at url (ws://host:port/route).
// logger may be nil.
func NewClient(url string, logger *slog.Logger) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		MinBackoff:      defaultMinBackoff,
		MaxBackoff:      defaultMaxBackoff,
		GreetingTimeout: defaultGreetingTimeout,
		MaxMessageSize:  defaultMaxMessageSize,
		OutboxSize:      defaultOutboxSize,
		Dialer:          &websocket.Dialer{HandshakeTimeout: handshakeTimeout},
		url:             url,
		logURL:          RedactURL(url),
		logger:          logger,
		pingInterval:    defaultPingInterval,
		wake:            make(chan struct{}, 1),
		replays:         replayGuard{window: replayWindow, limit: replayLimit},
	}
}

// Connected reports whether a connection to the bus is up and greeted. It is
// safe for concurrent use; the answer may be stale at once.
func (c *Client) Connected() bool { return c.connected.Load() }

// Send queues m for the bus and returns at once. It never blocks: when
// OutboxSize frames are waiting it returns ErrOutboxFull. While disconnected,
// frames wait and are written in order after the next connect; a frame whose
// write failed is written again on the next connection, so nothing accepted
// here is lost across a bus restart (a frame the kernel accepted just before
// the connection died can be, as with any websocket client). It also fails
// if m cannot be encoded or is larger than MaxMessageSize (sealed, with a
// Cipher: about twice as large). A message without a session goes out with
// the default one (WithSession), as ovos-bus-client's emit sends it. Safe
// for concurrent use.
func (c *Client) Send(m Message) error {
	frame, err := c.encode(m)
	if err != nil {
		return err
	}
	return c.enqueue(frame)
}

// encode makes m the frame Send and SendNow write: with the default
// session if it has none, sealed with a Cipher, no larger than
// MaxMessageSize.
func (c *Client) encode(m Message) ([]byte, error) {
	frame, err := m.WithSession().MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if c.Cipher != nil {
		frame = c.Cipher.Seal(frame)
	}
	if c.MaxMessageSize > 0 && int64(len(frame)) > c.MaxMessageSize {
		return nil, fmt.Errorf("send %s: frame of %d bytes is larger than %d", m.Type, len(frame), c.MaxMessageSize)
	}
	return frame, nil
}

// enqueue puts frame at the end of the outbox and wakes the writer.
func (c *Client) enqueue(frame []byte) error {
	limit := c.OutboxSize
	if limit <= 0 {
		limit = defaultOutboxSize
	}
	c.mu.Lock()
	if len(c.outbox) >= limit {
		c.mu.Unlock()
		return ErrOutboxFull
	}
	c.outbox = append(c.outbox, frame)
	c.mu.Unlock()
	c.signal()
	return nil
}

// signal wakes the writer.
func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default: // the writer has a wake-up pending already
	}
}

// directConn is a connection SendNow may write on, and what tells it
// whether a frame fits in the socket's send buffer now.
type directConn struct {
	conn *websocket.Conn
	room *sendRoom
}

// SendNow is Send, but when nothing is queued or being written, and the
// frame fits in the socket's send buffer, it writes the frame on the
// caller's goroutine before it returns, rather than waking the writer: a
// reply then costs no hand-over to another goroutine, which at
// concurrency 1 was much of the daemon's CPU per request. Otherwise (a
// frame queued or being written, no connection, a socket whose buffer
// could make the write wait for the bus, a platform where that cannot be
// told) it queues the frame as Send does. It never waits for a lock or for
// the bus, so the read loop may call it (api answers some requests there).
// Frames keep their order: one SendNow writes goes out after every frame
// accepted before it and before every frame accepted after it. A frame
// whose write fails is queued again, first, for the next connection, and
// the connection is closed. Safe for concurrent use.
func (c *Client) SendNow(m Message) error {
	frame, err := c.encode(m)
	if err != nil {
		return err
	}
	c.mu.Lock()
	d := c.direct
	if d == nil || len(c.outbox) > 0 || !c.writing.TryLock() {
		c.mu.Unlock()
		return c.enqueue(frame)
	}
	// The check is under mu, so that nothing is queued before it fails.
	if !d.room.fits(len(frame)) {
		c.writing.Unlock()
		c.mu.Unlock()
		return c.enqueue(frame)
	}
	// Holding writing: a frame accepted from here on is written after
	// this one.
	c.mu.Unlock()
	_ = d.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	err = d.conn.WriteMessage(websocket.TextMessage, frame)
	if err != nil {
		// Ahead of whatever was queued meanwhile, as it was accepted
		// first; gorilla fails every later write on this connection, so
		// the writer cannot pass it, and Close ends the connection now
		// rather than at the next frame.
		c.mu.Lock()
		c.outbox = append([][]byte{frame}, c.outbox...)
		c.mu.Unlock()
		d.conn.Close()
		c.logger.Debug("direct write failed; the frame waits for the next connection", "type", m.Type, "err", err)
	}
	c.writing.Unlock()
	if err != nil {
		c.signal()
	}
	return nil
}

// endDirect stops SendNow's writes on the writer's connection, and waits
// for one in progress: a frame whose write failed is back in the outbox
// before the next connection's writer starts on it.
func (c *Client) endDirect() {
	c.writing.Lock() // after a SendNow in progress
	c.mu.Lock()
	c.direct = nil
	c.mu.Unlock()
	c.writing.Unlock()
}

// head returns the oldest queued frame, or nil.
func (c *Client) head() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.outbox) == 0 {
		return nil
	}
	return c.outbox[0]
}

// pop drops the oldest queued frame once it has been written.
func (c *Client) pop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outbox[0] = nil
	c.outbox = c.outbox[1:]
	if len(c.outbox) == 0 {
		c.outbox = nil // let the drained backing array go
	}
}

// Run connects to the bus and serves the connection, reconnecting with
// backoff whenever it drops, until ctx ends. It hands the frames h accepts
// to h. It returns nil on cancellation, after every goroutine it started
// has exited; the only errors are an unusable URL, a nil h, or a second
// concurrent Run.
func (c *Client) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("bus: Client.Run needs a Handler")
	}
	u, err := url.Parse(c.url)
	if err != nil {
		// Unwrapped: url.Error's text quotes the whole URL.
		return fmt.Errorf("bus url does not parse: %w", errors.Unwrap(err))
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("bus url %s: scheme must be ws or wss", c.logURL)
	}
	if u.User != nil {
		// The websocket dialer refuses it: every dial would fail alike.
		return fmt.Errorf("bus url %s: a websocket URL cannot carry user info (user:password@); remove it", c.logURL)
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("bus: Client.Run is already running")
	}
	defer c.running.Store(false)

	bo := backoff{min: c.MinBackoff, max: c.MaxBackoff, rand: rand.Int64N}
	if bo.min <= 0 {
		bo.min = defaultMinBackoff
	}
	bo.max = max(bo.max, bo.min)
	quiet := false // this outage has been logged at warn already
	for {
		established, err := c.connect(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case established:
			bo.reset()
			quiet = true
			c.logger.Warn("bus connection lost; reconnecting", "url", c.logURL, "err", err)
		case !quiet:
			quiet = true
			c.logger.Warn("cannot reach bus; retrying", "url", c.logURL, "err", err)
		default:
			c.logger.Debug("cannot reach bus", "url", c.logURL, "err", err)
		}
		t := time.NewTimer(bo.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// connect dials once and serves the connection, handing frames to h, until
// it fails or ctx ends. established reports whether it got as far as
// writing (greeted, or the greeting timed out), which resets the backoff.
func (c *Client) connect(ctx context.Context, h Handler) (established bool, err error) {
	dialer := c.Dialer
	if dialer == nil {
		dialer = &websocket.Dialer{HandshakeTimeout: handshakeTimeout}
	}
	conn, resp, err := rawDialer(dialer).DialContext(ctx, c.url, nil)
	if err != nil {
		if resp != nil {
			// Something answered HTTP at that address but did not take the
			// websocket: usually a wrong route (ovos-messagebus serves
			// /core) or another server on the port.
			resp.Body.Close()
			return false, fmt.Errorf("dial %s: the server answered %s instead of a websocket (is the route right? OVOS serves /core): %w", c.logURL, resp.Status, err)
		}
		return false, fmt.Errorf("dial %s: %w", c.logURL, err)
	}
	c.logger.Debug("dialled bus", "url", c.logURL)
	if c.MaxMessageSize > 0 {
		conn.SetReadLimit(c.MaxMessageSize)
	}

	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		greeted = make(chan struct{})
		up      atomic.Bool
		errc    = make(chan error, 2)
	)
	wg.Go(func() { errc <- c.readLoop(conn, h, greeted) })
	wg.Go(func() { errc <- c.writeLoop(connCtx, conn, greeted, &up) })
	select {
	case err = <-errc:
	case <-ctx.Done():
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
	}
	cancel()
	conn.Close() // unblocks the reader and any write in progress
	wg.Wait()
	c.connected.Store(false) // after Wait: the writer may have set it late
	return up.Load(), err
}

// rawDialer is d, but the TCP connections it dials are read and written
// with raw system calls where the platform allows (see rawTCP). A dialer
// that makes TLS connections itself (NetDialTLSContext) is left as it is.
func rawDialer(d *websocket.Dialer) *websocket.Dialer {
	raw := *d
	dial := d.NetDialContext
	switch {
	case dial != nil:
	case d.NetDial != nil:
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return d.NetDial(network, addr) }
	default:
		dial = (&net.Dialer{}).DialContext // gorilla's own default
	}
	raw.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newRawTCP(c), nil
	}
	return &raw
}

// readLoop reads frames and hands them to h until the connection fails,
// closing greeted at the bus's "connected" frame.
func (c *Client) readLoop(conn *websocket.Conn, h Handler, greeted chan<- struct{}) error {
	// The tornado bus answers pings; a connection that answers nothing for
	// three ping intervals is dead even if TCP has not noticed.
	timeout := 3 * c.pingInterval
	var lastExtend time.Time
	extend := func(now time.Time) {
		lastExtend = now
		_ = conn.SetReadDeadline(now.Add(timeout))
	}
	extend(time.Now())
	conn.SetPongHandler(func(string) error { extend(time.Now()); return nil })

	// See quickAcker: without it, a bus with Nagle on (tornado) holds
	// back the next frame for up to 40ms after each of this client's own.
	ack := newQuickAcker(conn.NetConn())
	var buf bytes.Buffer
	isGreeted := false
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		// Frames come in bursts and SetReadDeadline is not free: extend
		// only when a good part of the timeout has gone.
		if now := time.Now(); now.Sub(lastExtend) > timeout/8 {
			extend(now)
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		ack.rearm()
		c.handle(buf.Bytes(), h, greeted, &isGreeted)
		if buf.Cap() > maxIdleBuffer {
			buf = bytes.Buffer{}
		}
	}
}

// handle routes one frame to h. Frames h does not want cost a peek (and,
// on an encrypted bus, opening).
func (c *Client) handle(frame []byte, h Handler, greeted chan<- struct{}, isGreeted *bool) {
	if c.Cipher != nil {
		var ok bool
		if frame, ok = c.open(frame, greeted, isGreeted); !ok {
			return
		}
	}
	typ, ok := PeekType(frame)
	if !ok {
		if c.Cipher == nil && bytes.Contains(frame, []byte(`"ciphertext"`)) {
			if n, ok := c.noKey.allow(time.Now(), wrongKeyEvery); ok {
				c.logger.Warn("cannot decrypt bus frames: the bus is encrypted but ovos-oauth has no secret key",
					"frames", n, "hint", "set bus_secret_key, or websocket.secret_key in the mycroft.conf ovos-oauth reads, to the skills' websocket.secret_key")
			}
			return
		}
		c.logger.Debug("dropping frame that is not an OVOS message", "bytes", len(frame))
		return
	}
	if !*isGreeted && typ == "connected" {
		*isGreeted = true
		close(greeted)
	}
	if c.nwatch.Load() > 0 {
		c.deliver(typ, frame)
	}
	if !h.Handles(typ) {
		return
	}
	msg, err := Decode(frame)
	if err != nil {
		c.logger.Debug("malformed frame", "type", typ, "bytes", len(frame), "err", err)
		h.Invalid(typ, err)
		return
	}
	h.Dispatch(msg)
}

// How often the read loop may repeat a complaint about frames it drops; each
// line's "frames" counts the frames since the previous one, itself included.
const (
	wrongKeyEvery = 10 * time.Second
	refusedEvery  = time.Minute
)

// open returns the plaintext of an encrypted frame, or a plain frame as it
// is if those are allowed. It reports false for a frame to drop, having
// logged why. The key never reaches the log, and nor does a frame.
func (c *Client) open(frame []byte, greeted chan<- struct{}, isGreeted *bool) ([]byte, bool) {
	plain, nonce, err := c.Cipher.open(frame)
	switch {
	case err == nil:
		now := time.Now()
		if c.replays.fresh(nonce, now) {
			return plain, true
		}
		if n, ok := c.replayed.allow(now, wrongKeyEvery); ok {
			typ, _ := PeekType(plain)
			c.logger.Warn("dropping replayed bus frames: an encrypted frame came again as it was; someone on the bus may be resending captured frames",
				"type", typ, "frames", n)
		}
	case errors.Is(err, ErrNotEncrypted):
		if c.AllowUnencrypted {
			return frame, true
		}
		typ, _ := PeekType(frame)
		if typ == "connected" {
			// ovos-messagebus may greet in plain whatever its
			// clients do; waiting for another greeting would only
			// delay every connection.
			if !*isGreeted {
				*isGreeted = true
				close(greeted)
			}
			return nil, false
		}
		if n, ok := c.refused.allow(time.Now(), refusedEvery); ok {
			c.logger.Info("dropping unencrypted bus frames: the bus is encrypted and allow_unencrypted is off",
				"type", typ, "frames", n)
		}
	case errors.Is(err, ErrDecrypt):
		if n, ok := c.wrongKey.allow(time.Now(), wrongKeyEvery); ok {
			c.logger.Warn("cannot decrypt bus frames: the bus's secret_key differs from ovos-oauth's",
				"frames", n, "hint", "ovos-oauth uses bus_secret_key, else websocket.secret_key of the mycroft.conf it reads; it must equal the skills' websocket.secret_key")
		}
	default:
		if n, ok := c.malformed.allow(time.Now(), wrongKeyEvery); ok {
			c.logger.Warn("dropping malformed encrypted bus frames", "frames", n, "err", err)
		}
	}
	return nil, false
}

// writeLoop is the connection's only writer (gorilla allows one): it waits
// for the greeting, then writes queued frames and pings until ctx ends or a
// write fails.
func (c *Client) writeLoop(ctx context.Context, conn *websocket.Conn, greeted <-chan struct{}, up *atomic.Bool) error {
	if c.GreetingTimeout > 0 {
		t := time.NewTimer(c.GreetingTimeout)
		select {
		case <-greeted:
		case <-t.C:
			c.logger.Warn("bus sent no greeting; sending anyway", "url", c.logURL, "waited", c.GreetingTimeout)
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		t.Stop()
	}
	if room := newSendRoom(conn.NetConn()); room != nil {
		c.mu.Lock()
		c.direct = &directConn{conn: conn, room: room}
		c.mu.Unlock()
		defer c.endDirect()
	}
	up.Store(true)
	c.connected.Store(true)
	c.logger.Info("connected to bus", "url", c.logURL, "encrypted", c.Cipher != nil)
	if c.OnConnect != nil {
		c.OnConnect()
	}

	ping := time.NewTicker(c.pingInterval)
	defer ping.Stop()
	for {
		for frame := c.head(); frame != nil; frame = c.head() {
			c.writing.Lock()
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			err := conn.WriteMessage(websocket.TextMessage, frame)
			c.writing.Unlock()
			if err != nil {
				return fmt.Errorf("write: %w", err) // the frame stays queued for the next connection
			}
			c.pop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}
