package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
)

// loadConfig is the configuration serve reads from args, in an environment
// of the test's own.
func loadConfig(t *testing.T, args ...string) (config.Config, func(string) string) {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	dataDir := t.TempDir()
	args = append([]string{"--public-host", "127.0.0.1", "--data-dir", dataDir, "--qr-dir", dataDir + "/qr"}, args...)
	cfg, err := config.Load(args, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("config.Load(%q) = %v", args, err)
	}
	return cfg, getenv
}

// TestDaemonAddresses: an opened daemon tells where it listens, the ports
// it got for :0 included, without parsing its log: its callback server,
// the embedded bus it runs and attaches to, its metrics server. Each
// answers once it runs; it stops when its context ends.
func TestDaemonAddresses(t *testing.T) {
	t.Parallel()
	cfg, getenv := loadConfig(t, "--listen", "127.0.0.1:0", "--embedded-bus", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	d := newDaemon(cfg, slog.New(slog.DiscardHandler), getenv)
	if err := d.Open(); err != nil {
		t.Fatalf("Open() = %v", err)
	}
	for what, addr := range map[string]string{"CallbackURL": d.CallbackURL(), "BusURL": d.BusURL(), "MetricsAddr": d.MetricsAddr()} {
		if addr == "" || strings.Contains(addr, ":0/") || strings.HasSuffix(addr, ":0") {
			t.Errorf("%s() = %q, want the port the daemon got", what, addr)
		}
	}
	if !strings.HasPrefix(d.CallbackURL(), "http://127.0.0.1:") || !strings.HasPrefix(d.BusURL(), "ws://127.0.0.1:") || !strings.HasSuffix(d.BusURL(), "/core") {
		t.Errorf("CallbackURL() = %q, BusURL() = %q, want the public host's callback and the embedded bus's /core", d.CallbackURL(), d.BusURL())
	}
	if cfg.BusURL == d.BusURL() || d.cfg.BusURL != cfg.BusURL {
		t.Errorf("the daemon's config says bus_url %q, want it as loaded (%q), apart from the bus it attaches to (%q)", d.cfg.BusURL, cfg.BusURL, d.BusURL())
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run() = %v before joining the bus", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not join its embedded bus in 10s")
	}
	if status, body := fetch(t, d.CallbackURL()+"/healthz"); status != http.StatusOK {
		t.Errorf("GET %s/healthz = %d %q, want 200", d.CallbackURL(), status, body)
	}
	if status, body := fetch(t, "http://"+d.MetricsAddr()+"/metrics"); status != http.StatusOK || !strings.Contains(body, "ovos_oauth_") {
		t.Errorf("GET %s/metrics = %d, want 200 and the daemon's metrics", d.MetricsAddr(), status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v after its context ended, want nil", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

// TestDaemonCloseAfterFailedOpen: Close is safe on a daemon never opened,
// and a daemon whose Open failed halfway lets go of what it had taken, its
// callback port and its store, which another daemon then opens.
func TestDaemonCloseAfterFailedOpen(t *testing.T) {
	t.Parallel()
	cfg, getenv := loadConfig(t, "--listen", "127.0.0.1:0")
	if err := newDaemon(cfg, slog.New(slog.DiscardHandler), getenv).Close(); err != nil {
		t.Errorf("Close() of a daemon never opened = %v, want nil", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name   string
		change func(*config.Config)
		getenv func(string) string
		want   string // in Open's error
	}{
		{"metrics port taken", func(c *config.Config) { c.MetricsListen = taken.Addr().String() }, getenv, "--metrics-listen"},
		// After the store is open: the mirror's folder is not known.
		{"mirror without a home", func(c *config.Config) { c.MirrorOVOSUtils = true }, func(string) string { return "" }, "XDG_CACHE_HOME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, getenv := loadConfig(t)
			free, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listen = free.Addr().String()
			free.Close()
			failing := cfg
			tt.change(&failing)
			d := newDaemon(failing, slog.New(slog.DiscardHandler), tt.getenv)
			if err := d.Open(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want an error that says %s", err, tt.want)
			}
			if err := d.Close(); err != nil {
				t.Errorf("Close() after a failed Open = %v, want nil", err)
			}
			again := newDaemon(cfg, slog.New(slog.DiscardHandler), getenv)
			defer again.Close()
			if err := again.Open(); err != nil {
				t.Errorf("Open() on the callback port and store the failed daemon had = %v, want them let go", err)
			}
		})
	}
}
