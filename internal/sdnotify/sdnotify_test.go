package sdnotify_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/sdnotify"
)

// listen opens a notify socket as systemd does and returns its path and a
// channel of the datagrams it receives.
func listen(t *testing.T, name string) (string, <-chan string) {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return name, got
}

func recv(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reached the notify socket")
		return ""
	}
}

func TestNotify(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@ovos-oauth-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)} {
		t.Run(name[:1], func(t *testing.T) {
			listenName := name
			if name[0] == '@' {
				listenName = "\x00" + name[1:]
			}
			_, got := listen(t, listenName)
			n := sdnotify.New(func(k string) string { return map[string]string{"NOTIFY_SOCKET": name}[k] }, 1)
			if !n.Enabled() {
				t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
			}
			for _, state := range []string{sdnotify.Ready, sdnotify.Stopping} {
				if err := n.Notify(state); err != nil {
					t.Fatal(err)
				}
				if s := recv(t, got); s != state {
					t.Errorf("received %q, want %q", s, state)
				}
			}
		})
	}
}

func TestOutsideSystemd(t *testing.T) {
	n := sdnotify.New(func(string) string { return "" }, 1)
	if n.Enabled() || n.Notify(sdnotify.Ready) != nil || n.RunWatchdog(context.Background(), func() bool { return true }) != nil {
		t.Error("outside systemd the notifier must do nothing")
	}
}

func TestWatchdog(t *testing.T) {
	path, got := listen(t, filepath.Join(t.TempDir(), "notify"))
	env := map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000", "WATCHDOG_PID": "7"}
	n := sdnotify.New(func(k string) string { return env[k] }, 7)
	if n.WatchdogInterval != 40*time.Millisecond {
		t.Fatalf("WatchdogInterval = %v, want 40ms", n.WatchdogInterval)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, func() bool { return true }) }()
	for range 3 {
		if s := recv(t, got); s != sdnotify.Watchdog {
			t.Errorf("received %q, want WATCHDOG=1", s)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunWatchdog() = %v", err)
	}
	if other := sdnotify.New(func(k string) string { return env[k] }, 8); other.WatchdogInterval != 0 {
		t.Errorf("a watchdog for pid 7 taken by pid 8")
	}
}
