//go:build linux

package bus_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

// sockopt reads an IPPROTO_TCP option of c's socket.
func sockopt(t testing.TB, c *net.TCPConn, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("getsockopt(%d): %v", opt, serr)
	}
	return v
}

// setQuickAck sets c's TCP_QUICKACK; 0 puts the socket in the kernel's
// delayed-ACK ("pingpong") mode, as an interactive connection gets into by
// itself.
func setQuickAck(t testing.TB, c *net.TCPConn, v int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, v) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("setsockopt(TCP_QUICKACK, %d): %v", v, serr)
	}
}

// recordingDialer is a websocket.Dialer whose TCP connections go to conns.
func recordingDialer(conns chan<- *net.TCPConn, tlsConfig *tls.Config) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: waitLimit,
		TLSClientConfig:  tlsConfig,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conns <- c.(*net.TCPConn)
			}
			return c, err
		},
	}
}

// TestClientRearmsQuickAck: after every frame it reads, the Client's socket
// is back in quick-ACK mode, so a bus with Nagle on (tornado) is not kept
// waiting ~40ms for the ACK of the echo of the Client's own frame before it
// sends the next one. The test puts the socket in delayed-ACK mode before
// each frame, as the kernel does by itself on an interactive connection;
// until the kernel's delayed-ACK timer fires (≥40ms), only the Client can
// have set it back. The frames are the echoes of the Client's own. Over plain ws and over wss, whose TLS conn wraps the
// socket. The Client's side also has Nagle off (Go's default for TCP).
func TestClientRearmsQuickAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) (url string, tlsConfig *tls.Config)
	}{{
		name: "ws",
		setup: func(t *testing.T) (string, *tls.Config) {
			url, _ := bustest.StartHub(t, func(h *bus.Hub) { h.NoDelay = false })
			return url, nil
		},
	}, {
		name: "wss",
		setup: func(t *testing.T) (string, *tls.Config) {
			srv := httptest.NewTLSServer(bus.NewHub(nil))
			t.Cleanup(srv.Close)
			return "wss" + strings.TrimPrefix(srv.URL, "https") + "/core", srv.Client().Transport.(*http.Transport).TLSClientConfig
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, tlsConfig := tt.setup(t)
			conns := make(chan *net.TCPConn, 10)
			rec := newRecorder("test.frame")
			c := newClient(t, url, rec, func(c *bus.Client) { c.Dialer = recordingDialer(conns, tlsConfig) })
			c.start(t)
			c.waitConnect(t)
			tcp := <-conns
			if got := sockopt(t, tcp, syscall.TCP_NODELAY); got != 1 {
				t.Errorf("client TCP_NODELAY = %d, want 1", got)
			}
			for i := range 5 {
				setQuickAck(t, tcp, 0)
				if got := sockopt(t, tcp, syscall.TCP_QUICKACK); got != 0 {
					t.Skipf("TCP_QUICKACK = %d right after setting it to 0: this kernel does not report it", got)
				}
				// The bus echoes the Client's own frame back to it: the
				// frame whose delayed ACK held tornado up.
				mustSend(t, c.Client, bus.NewMessage("test.frame", map[string]int{"i": i}))
				rec.next(t)
				if got := sockopt(t, tcp, syscall.TCP_QUICKACK); got != 1 {
					t.Fatalf("frame %d: TCP_QUICKACK = %d after the Client read it, want 1 (re-armed)", i, got)
				}
			}
		})
	}
}

// wrapped is a net.Conn that exposes the conn it wraps, as *tls.Conn does.
type wrapped struct{ net.Conn }

func (w wrapped) NetConn() net.Conn { return w.Conn }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestQuickAckFindsSocket: the socket is found through wrappers with a
// NetConn method (as *tls.Conn has); a connection that is not TCP is left
// alone instead of failing a syscall on every frame.
func TestQuickAckFindsSocket(t *testing.T) {
	t.Parallel()
	tcp, _ := tcpPair(t)
	unixA, unixB := net.Pipe()
	defer unixA.Close()
	defer unixB.Close()
	tests := []struct {
		name string
		conn net.Conn
		want bool
	}{
		{"tcp", tcp, true},
		{"wrapped twice", wrapped{wrapped{tcp}}, true},
		{"pipe", unixA, false},
		{"wrapped pipe", wrapped{unixA}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := bus.QuickAckFinds(tt.conn); got != tt.want {
			t.Errorf("%s: QuickAckFinds() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkQuickAckRearm is what the read loop pays per frame on Linux.
func BenchmarkQuickAckRearm(b *testing.B) {
	c, _ := tcpPair(b)
	rearm := bus.QuickAckRearm(c)
	b.ReportAllocs()
	for b.Loop() {
		rearm()
	}
	if got := sockopt(b, c.(*net.TCPConn), syscall.TCP_QUICKACK); got != 1 {
		b.Fatalf("TCP_QUICKACK = %d after rearm, want 1", got)
	}
}
