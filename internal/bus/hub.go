package bus

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/graceful"
)

// greeting is what ovos-messagebus sends each client as it connects.
const greeting = `{"type":"connected","data":{},"context":{"session":` + DefaultSession + `}}`

// hubQueueSize bounds the frames waiting for one hub client; a client that
// falls this far behind is dropped rather than slowing the others.
const hubQueueSize = 4096

// Hub is an OVOS-compatible messagebus server, doing what ovos-messagebus
// does: it greets each client with "connected" and relays every frame it
// receives, byte for byte, to every connected client including the sender,
// in the order received. It has no authentication, like ovos-messagebus. It
// serves `ovos-oauth serve --embedded-bus` and every test of the project.
//
// Each client has a bounded queue and its own writer goroutine. A client
// whose queue is full slows the senders down for a moment (backpressure);
// one that does not read within that moment is disconnected instead of
// blocking the others. Unlike
// ovos-messagebus, the Hub does not parse frames: it relays malformed ones
// too, which lets tests feed them to clients, and the encrypted frames of a
// bus with websocket.secret_key, which it needs no key for (a replayed one
// as well: each Client with the key drops those itself).
//
// The exported fields are set by NewHub and may be changed before serving
// starts, not after. ServeHTTP, Clients and Close are safe for concurrent
// use.
type Hub struct {
	// Route is the path Serve answers on. Default "/core".
	Route string
	// MaxMessageSize is the largest frame accepted, in bytes; a larger one
	// resets that client's connection, like ovos-messagebus. Default 25 MiB.
	MaxMessageSize int64
	// NoDelay sets TCP_NODELAY on client connections. Default true; false
	// leaves Nagle's algorithm on, as tornado does, to reproduce its ~40ms
	// delays between back-to-back frames in tests and benchmarks.
	NoDelay bool

	logger   *slog.Logger
	upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[*hubClient]struct{}
	stopped bool           // Serve has ended: refuse new clients
	active  sync.WaitGroup // ServeHTTP calls in progress, counted while !stopped
}

// hubFrame is one relayed frame; its bytes are shared by every client's
// queue and never modified.
type hubFrame struct {
	kind int // websocket.TextMessage or BinaryMessage, kept as received
	data []byte
}

type hubClient struct {
	conn      *websocket.Conn
	send      chan hubFrame
	done      chan struct{} // closed when the client is dropped
	closeOnce sync.Once
	exited    chan struct{} // closed when its ServeHTTP has returned
}

// close drops the connection; the reader and writer then exit. Idempotent.
func (cl *hubClient) close() {
	cl.closeOnce.Do(func() {
		close(cl.done)
		cl.conn.Close()
	})
}

// NewHub returns a Hub with the defaults. logger may be nil.
func NewHub(logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		Route:          "/core",
		MaxMessageSize: defaultMaxMessageSize,
		NoDelay:        true,
		logger:         logger,
		upgrader: websocket.Upgrader{
			CheckOrigin: func(*http.Request) bool { return true }, // ovos-messagebus checks nothing
		},
		clients: map[*hubClient]struct{}{},
	}
}

// ServeHTTP upgrades the request to a websocket, whatever its origin and
// path, greets the client and relays its frames until it disconnects. It
// returns when that client's goroutines have exited.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.enter() {
		http.Error(w, "bus is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.active.Done()
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.logger.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Upgrade has answered the request
	}
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(h.NoDelay)
	}
	if h.MaxMessageSize > 0 {
		conn.SetReadLimit(h.MaxMessageSize)
	}
	cl := &hubClient{
		conn:   conn,
		send:   make(chan hubFrame, hubQueueSize),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	defer close(cl.exited)
	cl.send <- hubFrame{websocket.TextMessage, []byte(greeting)} // before any relayed frame
	if !h.add(cl) {
		conn.Close()
		return
	}
	h.logger.Debug("bus client connected", "remote", r.RemoteAddr)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		h.writeLoop(cl)
	}()
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			h.logger.Debug("bus client gone", "remote", r.RemoteAddr, "err", err)
			break
		}
		h.broadcast(hubFrame{kind, data})
	}
	h.drop(cl)
	<-writerDone
}

// enter counts a ServeHTTP call unless Serve has ended.
func (h *Hub) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	h.active.Add(1)
	return true
}

func (h *Hub) add(cl *hubClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return false
	}
	h.clients[cl] = struct{}{}
	return true
}

func (h *Hub) drop(cl *hubClient) {
	h.mu.Lock()
	delete(h.clients, cl)
	h.mu.Unlock()
	cl.close()
}

// broadcast queues f for every client. Holding the lock while queueing gives
// every client the same order. A client whose queue is full gets
// backpressure rather than being dropped at once: the sender's reader
// waits, up to slowClientGrace, for the queue to drain (a reader that is
// merely busy, like the daemon answering a flood, catches up); a client
// that stays full that long does not read, and it is the one dropped. The
// flooding sender is slowed through TCP meanwhile.
func (h *Hub) broadcast(f hubFrame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var full []*hubClient
	for cl := range h.clients {
		select {
		case cl.send <- f:
		default:
			full = append(full, cl)
		}
	}
	if len(full) == 0 {
		return
	}
	timer := time.NewTimer(slowClientGrace)
	defer timer.Stop()
	for _, cl := range full {
		select {
		case cl.send <- f:
			continue
		case <-cl.done:
		case <-timer.C:
			// The grace is shared: after it, every client still full
			// goes at once.
			timer.Reset(0)
		}
		delete(h.clients, cl)
		cl.close()
		h.logger.Warn("dropping bus client that does not read", "remote", cl.conn.RemoteAddr().String())
	}
}

// slowClientGrace is how long a full client may take to make room for a
// frame before it is dropped.
const slowClientGrace = 2 * time.Second

// writeLoop is a client's only writer.
func (h *Hub) writeLoop(cl *hubClient) {
	for {
		select {
		case <-cl.done:
			return
		case f := <-cl.send:
			_ = cl.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := cl.conn.WriteMessage(f.kind, f.data); err != nil {
				cl.close() // first: a broadcast waiting for this queue stops waiting
				h.drop(cl)
				return
			}
		}
	}
}

// Clients returns how many clients are connected. Safe for concurrent use.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close drops every connected client and waits for their goroutines to
// exit. The Hub goes on accepting new clients, so to the clients it looks
// like a bus restart; to stop serving, end Serve's context. Safe for
// concurrent use; the error is always nil.
func (h *Hub) Close() error {
	h.mu.Lock()
	cls := slices.Collect(maps.Keys(h.clients))
	clear(h.clients)
	h.mu.Unlock()
	for _, cl := range cls {
		cl.close()
	}
	for _, cl := range cls {
		<-cl.exited
	}
	return nil
}

// Serve serves the Hub at Route on ln until ctx ends, then closes ln and
// every client connection and returns once all of its goroutines have
// exited: nil, or an error if serving failed or a request that is not a
// websocket's outlived the 5 s it is given to end. A Hub serves once: after
// Serve returns, it refuses new clients.
func (h *Hub) Serve(ctx context.Context, ln net.Listener) error {
	route := h.Route
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != route {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(h.logger.Handler(), slog.LevelDebug),
	}
	// Shutdown closes ln and idle connections but knows nothing of hijacked
	// websockets: stop drops those, and refuses clients from then on.
	stopped := make(chan struct{})
	srv.RegisterOnShutdown(func() {
		defer close(stopped)
		h.stop()
	})
	err := graceful.Serve(ctx, srv, ln, 5*time.Second)
	<-stopped
	h.active.Wait()
	return err
}

// stop marks the Hub as having served, so it refuses new clients, then
// drops the connected ones.
func (h *Hub) stop() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.Close()
}
