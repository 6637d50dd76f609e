package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkDaemonIdle10kTokens starts the daemon (this binary, in a child
// process) on a data dir holding 10,000 apps with refreshable tokens whose
// expiries are staggered over 30 days, and reports:
//   - startup-ms: from exec to the refresh schedule rebuilt from the store,
//   - idle-cpu-%: the daemon's CPU use over the next 10 s, with nothing due,
//   - rss-MiB: its resident memory then, and of that anon-MiB, the part that
//     is not the store's file mapped in.
func BenchmarkDaemonIdle10kTokens(b *testing.B) {
	dataDir := seeded10k(b)

	for b.Loop() {
		cmd := daemonCommand(b, b.TempDir(), "serve", "--embedded-bus", "127.0.0.1:0", "--listen", "127.0.0.1:0",
			"--public-host", "127.0.0.1", "--data-dir", dataDir, "--log-format", "json", "--mirror-ovos-utils=false")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var startup time.Duration
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"schedule built"`) {
				startup = time.Since(start)
				if !strings.Contains(sc.Text(), `"refreshes":10000`) {
					b.Fatalf("schedule: %s", sc.Text())
				}
				break
			}
		}
		if startup == 0 {
			cmd.Process.Kill()
			b.Fatalf("daemon never built its schedule")
		}
		// Idle means idle: no token of the seed is due for half an hour, so
		// a refresh in the window is a bug in the plan or the seed.
		busy := make(chan string, 1)
		go func() {
			for sc.Scan() {
				if strings.Contains(sc.Text(), "refresh") {
					select {
					case busy <- sc.Text():
					default:
					}
				}
			}
		}()
		time.Sleep(2 * time.Second) // let start-up's garbage collection finish
		cpu0, _ := procCPU(b, cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(10 * time.Second) // the idle window being measured
		cpu1, rss := procCPU(b, cmd.Process.Pid)
		anon := rssAnon(b, cmd.Process.Pid)
		window := time.Since(t0)
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("daemon exit: %v", err)
		}
		select {
		case line := <-busy:
			b.Fatalf("the daemon was not idle: %s", line)
		default:
		}
		b.ReportMetric(float64(startup.Microseconds())/1000, "startup-ms")
		b.ReportMetric(100*(cpu1-cpu0).Seconds()/window.Seconds(), "idle-cpu-%")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(anon)/(1<<20), "anon-MiB")
	}
}

// procCPU reads a process's user+system CPU time and resident set size.
func procCPU(b *testing.B, pid int) (time.Duration, int64) {
	b.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, rssPages * int64(os.Getpagesize())
}

// rssAnon reads the anonymous part of a process's resident memory.
func rssAnon(b *testing.B, pid int) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// seeded10k returns a data dir whose store holds 10,000 apps with sealed,
// refreshable tokens.
func seeded10k(b *testing.B) string {
	b.Helper()
	dataDir := b.TempDir()
	db := storetest.Open(b, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	oauthtest.Seed(b, db, 10000, time.Now())
	db.Close()
	return dataDir
}

// daemonCommand is this test binary run as ovos-oauth with args, HOME home
// and no config file of this machine.
func daemonCommand(tb testing.TB, home string, args ...string) *exec.Cmd {
	cmd := proctest.Command("ovos-oauth", args...)
	cmd.Env = append(cmd.Env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"OVOS_OAUTH_SYSTEM_CONFIG_DIR="+tb.TempDir(), "MYCROFT_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_DIRS="+tb.TempDir())
	return cmd
}
