package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBusRestarted50Times restarts the bus 50 times while a skill sends
// requests: each time the daemon is back within its backoff cap, says
// oauth.ping and answers; its goroutines and file descriptors do not grow
// across the cycles. Not parallel, so that the counts are the daemon's.
// The daemon's first retry comes after 10 ms rather than 200: the test
// counts reconnections, not the delays, which internal/bus's tests check,
// and 50 of 200 ms held the package's other tests back for 10 s.
func TestBusRestarted50Times(t *testing.T) {
	busURL, stopBus := restartableBus(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(busURL, "ws://"), "/core")
	startDaemonTuned(t, busURL, t.TempDir(), homeEnv(t, t.TempDir()), func(d *daemon) { d.client.MinBackoff = 10 * time.Millisecond })
	const cycles = 50
	var goroutines, fds [cycles]int
	var slowest time.Duration
	for i := range cycles {
		stopBus()
		restarted := time.Now()
		// The skill gets in first: the daemon's ping must not go out
		// before anyone listens.
		open := make(chan struct{})
		_, stopBus = startBus(t, addr, open)
		sk := newSkill(t, busURL+"?first=1", skillID)
		close(open)
		sk.Expect(t, "oauth.ping")
		back := time.Since(restarted)
		slowest = max(slowest, back)
		// The daemon's cap is 15 s; a bus that was gone for an instant is
		// rejoined after the first retry.
		if back > 15*time.Second {
			t.Fatalf("cycle %d: the daemon came back after %v, more than its backoff cap", i, back)
		}
		noErr(t, sk.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
		wantErr(t, sk.request(t, "oauth.token.get", app("nothing"), "oauth.token.get.response"), "unknown_app")
		sk.Close()
		goroutines[i], fds[i] = runtime.NumGoroutine(), openFDs(t)
	}
	t.Logf("slowest reconnect %v; goroutines %d → %d, fds %d → %d over %d cycles", slowest, goroutines[9], goroutines[cycles-1], fds[9], fds[cycles-1], cycles)
	// Counted from cycle 10, once every pool has its steady size.
	if grew := goroutines[cycles-1] - goroutines[9]; grew > 5 {
		t.Errorf("goroutines grew by %d over %d bus restarts: %v", grew, cycles-10, goroutines)
	}
	if grew := fds[cycles-1] - fds[9]; grew > 5 {
		t.Errorf("file descriptors grew by %d over %d bus restarts: %v", grew, cycles-10, fds)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}
