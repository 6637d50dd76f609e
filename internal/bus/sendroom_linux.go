//go:build linux

package bus

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendRoom tells whether a frame fits in a socket's send buffer now, so
// that writing it returns at once instead of waiting for the bus to read:
// the condition under which SendNow writes on its caller's goroutine,
// which may be the read loop.
//
// A nil *sendRoom has no room: SendNow then always queues.
type sendRoom struct {
	rc   syscall.RawConn
	get  func(fd uintptr) // built once: a closure per frame would allocate
	info [unix.SK_MEMINFO_VARS]uint32
	err  syscall.Errno // get's result
}

// newSendRoom returns a sendRoom for c's socket if c is a TCP connection,
// or wraps one (a *tls.Conn, or any conn with a NetConn method), and nil
// otherwise.
func newSendRoom(c net.Conn) *sendRoom {
	tcp := tcpConn(c)
	if tcp == nil {
		return nil
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	r := &sendRoom{rc: rc}
	r.get = func(fd uintptr) {
		size := uint32(unsafe.Sizeof(r.info))
		// Raw: the call never blocks, and a plain syscall would wake the
		// runtime's sysmon thread on an idle daemon.
		_, _, r.err = unix.RawSyscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&r.info)), uintptr(unsafe.Pointer(&size)), 0)
	}
	return r
}

// tcpConn is the *net.TCPConn c is or wraps, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for c != nil {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// sendSlack is room left beyond a frame's bytes, for what the kernel
// counts beside them (its buffers' own size) and for TLS and the
// websocket's framing.
const sendSlack = 4096

// fits reports whether n more bytes fit in the socket's send buffer now,
// with room to spare: Linux makes a write wait only once the bytes it
// holds (queued or not yet acknowledged, counted with their buffers)
// reach the buffer's size. Not safe for concurrent use; SendNow calls it
// under the Client's mu.
func (r *sendRoom) fits(n int) bool {
	if r == nil || r.rc == nil {
		return false
	}
	if err := r.rc.Control(r.get); err != nil || r.err != 0 {
		return false
	}
	queued, size := int64(r.info[unix.SK_MEMINFO_WMEM_QUEUED]), int64(r.info[unix.SK_MEMINFO_SNDBUF])
	return queued+2*int64(n)+sendSlack <= size
}
