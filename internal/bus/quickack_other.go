//go:build !linux

package bus

import "net"

// quickAcker does nothing outside Linux, which alone has TCP_QUICKACK (see
// quickack_linux.go for why the daemon wants it).
type quickAcker struct{}

func newQuickAcker(net.Conn) *quickAcker { return nil }

func (*quickAcker) rearm() {}

// newRawTCP returns c: outside Linux the Client reads and writes through
// net.Conn (see rawconn_linux.go).
func newRawTCP(c net.Conn) net.Conn { return c }
