package main

import (
	"net"
	"syscall"
)

// quickAck asks the kernel to ACK what it has received at once instead of
// delaying the ACK (up to ~40 ms). The bench does this after every read so
// that a bus with Nagle's algorithm on (as ovos-messagebus has) does not
// hold the bench's next frame behind its own delayed ACK: what is measured
// is the daemon, not the bench. Linux clears the flag again by itself,
// hence after every read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
