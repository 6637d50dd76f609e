//go:build linux

package bus

import (
	"net"
	"syscall"
)

// quickAcker re-arms TCP_QUICKACK on a connection's socket. Linux leaves
// quick-ACK mode by itself (an ACK is delayed up to ~40ms once the
// connection looks interactive), so the flag holds only until the kernel
// next decides otherwise and must be set again after every read.
//
// Why the daemon cares: ovos-messagebus (tornado) leaves Nagle's algorithm
// on and relays every frame back to its sender. While the daemon's kernel
// delays the ACK of the echo of its own reply, the bus holds the next frame
// it has for the daemon: every request at concurrency 1 took 44ms instead
// of the bus's 0.4ms round trip. Setting the flag also sends an ACK that is
// pending at once.
//
// A nil *quickAcker does nothing. Only the read loop uses one.
type quickAcker struct {
	rc  syscall.RawConn
	set func(fd uintptr) // built once: a closure per frame would allocate
	err error            // set's result
}

// newQuickAcker returns a quickAcker for c's socket if c is a TCP
// connection, or wraps one (a *tls.Conn, or any conn with a NetConn method),
// and nil otherwise.
func newQuickAcker(c net.Conn) *quickAcker {
	for c != nil {
		switch v := c.(type) {
		case *net.TCPConn:
			rc, err := v.SyscallConn()
			if err != nil {
				return nil
			}
			q := &quickAcker{rc: rc}
			q.set = func(fd uintptr) {
				q.err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
			}
			return q
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// rearm sets TCP_QUICKACK, which also sends an ACK the kernel is holding
// back. After a failure (a kernel or socket without the option) it stops
// trying. It is not safe for concurrent use.
func (q *quickAcker) rearm() {
	if q == nil || q.rc == nil {
		return
	}
	if err := q.rc.Control(q.set); err != nil || q.err != nil {
		q.rc = nil
	}
}
