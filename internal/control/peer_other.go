//go:build !linux

package control

import (
	"errors"
	"net"
)

// peerUID fails where SO_PEERCRED is missing: the socket then answers no
// one, and a backup needs the daemon stopped.
func peerUID(*net.UnixConn) (uint32, error) {
	return 0, errors.New("peer credentials are not available on this system")
}
