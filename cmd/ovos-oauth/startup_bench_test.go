package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// BenchmarkExecToPing10k starts the daemon (this binary, in a child
// process) on a data dir holding 10,000 apps with sealed tokens, the
// ovos_utils mirror on, and reports ms/op: from exec to its oauth.ping
// arriving on the bus, where skills hear it.
func BenchmarkExecToPing10k(b *testing.B) {
	dataDir := seeded10k(b)
	busURL, _ := bustest.StartHub(b)
	home := b.TempDir()

	execToPing(b, busURL, home, func() string { return dataDir })
}

// BenchmarkExecToPingBesideMirror2k starts the daemon (this binary, in a
// child process) on a new, empty data dir beside the ovos_utils mirror of
// another daemon holding 2,000 apps with tokens (a manual run beside the
// unit, make run, a reinstall with a new data dir), and reports ms/op: from
// exec to its oauth.ping. Those apps are the other daemon's and are not
// imported, so this is the start of an empty store.
func BenchmarkExecToPingBesideMirror2k(b *testing.B) {
	home := b.TempDir()
	w := mirror.NewWriter(mirror.New(filepath.Join(home, ".cache", "mycroft", "json_database")), slog.New(slog.DiscardHandler))
	now := time.Now()
	for i := range 2000 {
		app := &oauth.App{SkillID: "skill-bench.test", AppID: fmt.Sprintf("app%04d", i), ClientID: "client", ClientSecret: "secret",
			AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: "https://provider.example/token", Scope: "read write", ShellIntegration: true}
		tok := &oauth.Token{AccessToken: oauth.Secret(fmt.Sprintf("access-%d", i)), RefreshToken: oauth.Secret(fmt.Sprintf("refresh-%d", i)),
			TokenType: "Bearer", Expiry: now.Add(time.Hour), Obtained: now}
		if err := w.PutApp(app, "http://127.0.0.1:36536/auth/callback/"+app.MungedID()); err != nil {
			b.Fatal(err)
		}
		if err := w.PutToken(app, tok); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	busURL, _ := bustest.StartHub(b)

	execToPing(b, busURL, home, b.TempDir)
}

// execToPing reports ms/op from the daemon's exec, in a child process with
// HOME home and the data dir dataDir gives, to its oauth.ping on busURL.
func execToPing(b *testing.B, busURL, home string, dataDir func() string) {
	var total time.Duration
	for b.Loop() {
		skill := bustest.Dial(b, busURL)
		cmd := daemonCommand(b, home, "serve", "--bus-url", busURL, "--listen", "127.0.0.1:0",
			"--public-host", "127.0.0.1", "--data-dir", dataDir(), "--log-format", "json")
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
