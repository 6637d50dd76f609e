//go:build linux

package bus

import "net"

// QuickAckFinds reports whether a quickAcker for c found a TCP socket to
// re-arm.
func QuickAckFinds(c net.Conn) bool { return newQuickAcker(c) != nil }

// QuickAckRearm returns the re-arm function of a quickAcker for c.
func QuickAckRearm(c net.Conn) func() { return newQuickAcker(c).rearm }
