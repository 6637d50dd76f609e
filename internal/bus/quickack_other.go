//go:build !linux

package bus

import "net"

// quickAcker does nothing outside Linux, which alone has TCP_QUICKACK (see
// quickack_linux.go for why the daemon wants it).
type quickAcker struct{}

func newQuickAcker(net.Conn) *quickAcker { return nil }

func (*quickAcker) rearm() {}
