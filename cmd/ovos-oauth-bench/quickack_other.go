//go:build !linux

package main

import "net"

// quickAck is Linux only (TCP_QUICKACK); elsewhere the bench's own delayed
// ACKs may add to what it measures on a bus with Nagle's algorithm on.
func quickAck(net.Conn) {}
