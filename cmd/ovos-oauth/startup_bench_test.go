package main

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

// BenchmarkExecToPing10k starts the daemon (this binary, in a child
// process) on a data dir holding 10,000 apps with sealed tokens, the
// ovos_utils mirror on, and reports ms/op: from exec to its oauth.ping
// arriving on the bus, where skills hear it.
func BenchmarkExecToPing10k(b *testing.B) {
	dataDir := seeded10k(b)
	busURL, _ := bustest.StartHub(b)
	home := b.TempDir()

	var total time.Duration
	for b.Loop() {
		skill := bustest.Dial(b, busURL)
		args, _ := json.Marshal([]string{"serve", "--bus-url", busURL, "--listen", "127.0.0.1:0",
			"--public-host", "127.0.0.1", "--data-dir", dataDir, "--log-format", "json"})
		cmd := daemonCommand(b, args, home)
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
