//go:build linux

package bus

import (
	"net"
	"syscall"
	"testing"
)

// quickAckOn reads c's TCP_QUICKACK: 1 out of the kernel's delayed-ACK
// ("pingpong") mode.
func quickAckOn(t *testing.T, c *net.TCPConn) bool {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v == 1
}

// TestQuickAckOnlyAfterAWrite: frames read with nothing written since the
// last re-arm cost no re-arm, and the socket stays out of delayed-ACK mode
// by itself (the kernel enters it only when the socket sends soon after
// it received); the first frame read after a write re-arms it.
func TestQuickAckOnlyAfterAWrite(t *testing.T) {
	t.Parallel()
	raw, peer := rawPair(t)
	q := newQuickAcker(raw)
	if q == nil || q.sent == nil {
		t.Fatal("newQuickAcker(rawTCP) does not count its writes")
	}
	buf := make([]byte, 64)
	read := func() {
		t.Helper()
		if _, err := peer.Write([]byte("a frame for another client")); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Read(buf); err != nil {
			t.Fatal(err)
		}
		q.rearm()
	}
	for i := range 50 {
		read()
		if !quickAckOn(t, raw.tcp) {
			t.Fatalf("frame %d: the socket went into delayed-ACK mode having written nothing", i)
		}
	}
	if q.calls != 1 {
		t.Errorf("%d re-arms for 50 frames read and nothing written; want 1, the first", q.calls)
	}
	for i := range 5 {
		if _, err := raw.Write([]byte("a reply")); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Read(buf); err != nil {
			t.Fatal(err)
		}
		read()
		if q.calls != 2+i {
			t.Fatalf("after write %d: %d re-arms, want %d: each first read after a write re-arms", i, q.calls, 2+i)
		}
		if !quickAckOn(t, raw.tcp) {
			t.Fatalf("after write %d: the socket is in delayed-ACK mode after the re-arm", i)
		}
	}
}
