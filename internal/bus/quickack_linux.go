//go:build linux

package bus

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
			on := int32(1)
			q.set = func(fd uintptr) {
				// Raw, as rawTCP's reads: it never blocks, and a plain
				// system call would wake the runtime's sysmon thread.
				_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK,
					uintptr(unsafe.Pointer(&on)), unsafe.Sizeof(on), 0)
				q.err = nil
				if e != 0 {
					q.err = e
				}
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
