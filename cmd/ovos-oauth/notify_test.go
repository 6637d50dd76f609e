package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// TestSystemdReadinessAndHealth runs the daemon under a notify socket of
// the test's own, as systemd would: READY=1 comes once it is on the bus,
// /healthz says 200 then and 503 (saying why) while the bus is gone, and
// STOPPING=1 comes at shutdown.
func TestSystemdReadinessAndHealth(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:n])
		}
	}()

	busURL, stopBus := restartableBus(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(busURL, "ws://"), "/core")
	skill := newSkill(t, busURL, skillID)
	logs := newLogSink()
	env := map[string]string{"HOME": t.TempDir(), "NOTIFY_SOCKET": sock, "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--bus-url", busURL, "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1",
			"--data-dir", t.TempDir(), "--log-format", "json"}, func(k string) string { return env[k] }, io.Discard, logs)
	}()
	defer func() {
		cancel()
		<-done
	}()
	next := func() string {
		t.Helper()
		select {
		case s := <-states:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("nothing reached the notify socket in 10 s")
			return ""
		}
	}
	if s := next(); s != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", s)
	}
	skill.Expect(t, "oauth.ping") // READY came with the daemon on the bus
	started := <-logs.started
	health := started["callback"].(string) + "/healthz"
	if status, body := fetch(t, health); status != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz on the bus = %d %q, want 200", status, body)
	}

	stopBus()
	var body string
	polltest.UntilNil(t, func() error {
		var status int
		if status, body = fetch(t, health); status != http.StatusServiceUnavailable {
			return fmt.Errorf("/healthz still %d without the bus", status)
		}
		return nil
	})
	if !strings.Contains(body, "bus") {
		t.Errorf("/healthz without a bus says %q, want why", body)
	}
	startBus(t, addr, nil) // back: not ready again, just healthy
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run() = %v", err)
	}
	done <- nil
	if s := next(); s != "STOPPING=1" {
		t.Errorf("notification at shutdown %q, want STOPPING=1", s)
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
