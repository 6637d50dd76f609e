package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// BenchmarkExecToPing10k starts the daemon (this binary, in a child
// process) on a data dir holding 10,000 apps with sealed tokens, the
// ovos_utils mirror on, and reports ms/op: from exec to its oauth.ping
// arriving on the bus, where skills hear it.
func BenchmarkExecToPing10k(b *testing.B) {
	dataDir := b.TempDir()
	db := store.New(filepath.Join(dataDir, "ovos-oauth.db"))
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	oauthtest.Seed(b, db, 10000, time.Now())
	db.Close()
	busURL, _ := bustest.StartHub(b)
	home := b.TempDir()

	var total time.Duration
	for b.Loop() {
		skill := bustest.Dial(b, busURL)
		args, _ := json.Marshal([]string{"serve", "--bus-url", busURL, "--listen", "127.0.0.1:0",
			"--public-host", "127.0.0.1", "--data-dir", dataDir, "--log-format", "json"})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "OVOS_OAUTH_TEST_DAEMON="+string(args), "HOME="+home,
			"OVOS_OAUTH_SYSTEM_CONFIG_DIR="+b.TempDir(), "MYCROFT_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_DIRS="+b.TempDir())
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		skill.Expect(b, "oauth.ping")
		total += time.Since(start)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("daemon: %v", err)
		}
		skill.Close()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-ping")
}
