//go:build linux

package bus

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawTCP is a TCP connection read and written with raw system calls on its
// non-blocking socket, waiting in the runtime's poller as net.TCPConn does.
//
// Why: Go enters every ordinary system call through the scheduler, which
// wakes its monitor thread (sysmon) whenever that has gone to sleep because
// nothing ran, as it does between two frames on a quiet bus. On a daemon
// that wakes for one frame at a time, those wake-ups of a second thread
// were a quarter of its CPU per frame. A read or write of a non-blocking
// socket never blocks in the kernel, so it needs none of that.
//
// Reads and writes are each serialized by a lock of their own; everything
// else is the TCPConn's.
type rawTCP struct {
	tcp *net.TCPConn
	rc  syscall.RawConn

	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	readFn func(fd uintptr) bool // built once: a closure per call would allocate

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// newRawTCP returns c read and written with raw system calls if it is a
// *net.TCPConn, and c itself otherwise.
func newRawTCP(c net.Conn) net.Conn {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawTCP{tcp: tcp, rc: rc}
	r.readFn = func(fd uintptr) bool {
		for {
			n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.rbuf[0])), uintptr(len(r.rbuf)))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // the poller waits until the socket is readable
			case 0:
				r.rn = int(n)
			default:
				r.rerr = e
			}
			return true
		}
	}
	r.writeFn = func(fd uintptr) bool {
		for r.wn < len(r.wbuf) {
			n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&r.wbuf[r.wn])), uintptr(len(r.wbuf)-r.wn))
			switch e {
			case 0:
				r.wn += int(n)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // the poller waits until the socket is writable
			default:
				r.werr = e
				return true
			}
		}
		return true
	}
	return r
}

// NetConn returns the TCP connection, for its socket's options.
func (c *rawTCP) NetConn() net.Conn { return c.tcp }

func (c *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	switch {
	case err != nil: // closed, or past the deadline
		return 0, c.opError("read", err)
	case c.rerr != 0:
		return 0, c.opError("read", os.NewSyscallError("read", c.rerr))
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *rawTCP) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	switch {
	case err != nil:
		return c.wn, c.opError("write", err)
	case c.werr != 0:
		return c.wn, c.opError("write", os.NewSyscallError("write", c.werr))
	}
	return c.wn, nil
}

// opError is err as net.TCPConn would return it.
func (c *rawTCP) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // the raw conn's, named raw-read or raw-write
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.tcp.LocalAddr(), Addr: c.tcp.RemoteAddr(), Err: err}
}

func (c *rawTCP) Close() error                       { return c.tcp.Close() }
func (c *rawTCP) LocalAddr() net.Addr                { return c.tcp.LocalAddr() }
func (c *rawTCP) RemoteAddr() net.Addr               { return c.tcp.RemoteAddr() }
func (c *rawTCP) SetDeadline(t time.Time) error      { return c.tcp.SetDeadline(t) }
func (c *rawTCP) SetReadDeadline(t time.Time) error  { return c.tcp.SetReadDeadline(t) }
func (c *rawTCP) SetWriteDeadline(t time.Time) error { return c.tcp.SetWriteDeadline(t) }
