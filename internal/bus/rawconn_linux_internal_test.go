//go:build linux

package bus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawPair returns a rawTCP and the other end of its connection.
func rawPair(t *testing.T) (*rawTCP, *net.TCPConn) {
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
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	raw, ok := newRawTCP(c).(*rawTCP)
	if !ok {
		t.Fatal("newRawTCP did not wrap a *net.TCPConn")
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return raw, peer.(*net.TCPConn)
}

// TestRawTCPIsATCPConn: what the Client reads and writes through rawTCP
// behaves as through net.TCPConn: every byte across, in order, also a
// write larger than the socket's buffers (it waits for room); EOF when the
// peer closes; a timeout at the read deadline; net.ErrClosed once closed.
func TestRawTCPIsATCPConn(t *testing.T) {
	t.Parallel()
	raw, peer := rawPair(t)

	// 8 MiB out while the peer reads slowly: partial writes and waits.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
		got <- b
	}()
	if n, err := raw.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write() = %d, %v; want %d, nil", n, err, len(big))
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}

	// In: what the peer writes, in whatever pieces, then EOF.
	go func() {
		peer.Write(big[:100000])
		peer.CloseWrite()
	}()
	in, err := io.ReadAll(raw)
	if err != nil || !bytes.Equal(in, big[:100000]) {
		t.Fatalf("ReadAll() = %d bytes, %v; want 100000 and EOF", len(in), err)
	}
	if n, err := raw.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read() after EOF = %d, %v", n, err)
	}
	if n, err := raw.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
}

func TestRawTCPDeadlineAndClose(t *testing.T) {
	t.Parallel()
	raw, _ := rawPair(t)
	if err := raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := raw.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read() past the deadline = %v, want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("Read() error %#v, want a *net.OpError of read", err)
	}
	raw.Close()
	if _, err := raw.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read() after Close = %v, want net.ErrClosed", err)
	}
	if _, err := raw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write() after Close = %v, want net.ErrClosed", err)
	}
	if tcp, ok := raw.NetConn().(*net.TCPConn); !ok || tcp != raw.tcp {
		t.Errorf("NetConn() = %T, want the TCP connection", raw.NetConn())
	}
}

// TestRawTCPReset: reads and writes of a connection the peer reset fail
// with the system's error.
func TestRawTCPReset(t *testing.T) {
	t.Parallel()
	raw, peer := rawPair(t)
	peer.SetLinger(0) // close with a reset
	peer.Close()
	var se *os.SyscallError
	if _, err := raw.Read(make([]byte, 10)); !errors.As(err, &se) || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Read() of a reset connection = %v, want ECONNRESET", err)
	}
	if _, err := raw.Write([]byte("after the reset")); !errors.As(err, &se) {
		t.Errorf("Write() to a reset connection = %v, want the system's error", err)
	}
}

// wrappedConn is a net.Conn that is not a *net.TCPConn.
type wrappedConn struct{ net.Conn }

// TestRawDialer: the Client's dialer reads and writes the TCP connections
// it dials with raw system calls, whether it dials them itself or through
// the Dialer's NetDialContext or NetDial; a connection of another type is
// left as it is.
func TestRawDialer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var accepted []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range accepted {
					c.Close()
				}
				return
			}
			accepted = append(accepted, c)
		}
	}()
	addr := ln.Addr().String()
	for _, tt := range []struct {
		name   string
		dialer websocket.Dialer
		raw    bool
	}{
		{"default", websocket.Dialer{}, true},
		{"NetDialContext", websocket.Dialer{NetDialContext: (&net.Dialer{}).DialContext}, true},
		{"NetDial", websocket.Dialer{NetDial: net.Dial}, true},
		{"not TCP", websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return wrappedConn{c}, err
		}}, false},
	} {
		c, err := rawDialer(&tt.dialer).NetDialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, raw := c.(*rawTCP); raw != tt.raw {
			t.Errorf("%s: dialled a %T", tt.name, c)
		}
		c.Close()
	}
}
