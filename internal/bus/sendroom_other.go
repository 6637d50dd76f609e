//go:build !linux

package bus

import "net"

// sendRoom cannot tell outside Linux whether a write would wait for the
// bus, so SendNow always queues there (see sendroom_linux.go).
type sendRoom struct{}

func newSendRoom(net.Conn) *sendRoom { return nil }

func (*sendRoom) fits(int) bool { return false }
