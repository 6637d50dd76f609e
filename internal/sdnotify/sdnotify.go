// Package sdnotify tells systemd how the service is doing, over the
// datagram socket it names in $NOTIFY_SOCKET (sd_notify(3)), without cgo or
// libsystemd. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// States a service sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends states to systemd's notify socket. The zero value, and one
// made without a socket, sends nothing. Safe for concurrent use.
type Notifier struct {
	socket string // "" when not under systemd
	// WatchdogInterval is $WATCHDOG_USEC, 0 when systemd expects no pings.
	WatchdogInterval time.Duration
}

// New reads the socket and the watchdog interval from the environment as
// getenv reports it. A watchdog meant for another process
// ($WATCHDOG_PID not pid) is ignored.
func New(getenv func(string) string, pid int) *Notifier {
	n := &Notifier{socket: getenv("NOTIFY_SOCKET")}
	if usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		if p := getenv("WATCHDOG_PID"); p == "" || p == strconv.Itoa(pid) {
			n.WatchdogInterval = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether there is a socket to send to.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Notify sends one state, such as Ready. It does nothing outside systemd.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	if addr.Name[0] == '@' {
		addr.Name = "\x00" + addr.Name[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// RunWatchdog pings systemd at half the watchdog interval while healthy
// reports true, until ctx ends; it returns at once when systemd expects no
// pings. A ping missed because the daemon is not healthy lets systemd
// restart it, which is what the watchdog is for.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) error {
	if !n.Enabled() || n.WatchdogInterval <= 0 {
		return nil
	}
	tick := time.NewTicker(n.WatchdogInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if healthy() {
				if err := n.Notify(Watchdog); err != nil && !errors.Is(err, net.ErrClosed) {
					return err
				}
			}
		}
	}
}
