package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shellEnv is the environment of a command typed in a shell: $HOME and no
// more (no STATE_DIRECTORY, which only systemd sets), with the system's
// config files and the system unit's data folder somewhere empty.
func shellEnv(t *testing.T, home string) map[string]string {
	return map[string]string{"HOME": home, "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent",
		"XDG_CONFIG_DIRS": t.TempDir(), "OVOS_OAUTH_SYSTEM_DATA_DIR": filepath.Join(t.TempDir(), "ovos-oauth")}
}

// unitDataDir is the data directory a unit of systemd/ gives the daemon
// (ExecStart's --data-dir), with %S as systemd sets it: stateDir.
func unitDataDir(t *testing.T, unit, stateDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "systemd", unit))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart=")
		if !ok {
			continue
		}
		words := strings.Fields(rest)
		for i, w := range words {
			if w == "--data-dir" && i+1 < len(words) {
				return strings.ReplaceAll(words[i+1], "%S", stateDir)
			}
		}
	}
	t.Fatalf("%s: no ExecStart= with --data-dir", unit)
	return ""
}

// registerDemo registers an app with the daemon on busURL, so that its
// database holds one.
func registerDemo(t *testing.T, busURL string) {
	t.Helper()
	sk := newSkill(t, busURL, skillID)
	noErr(t, sk.request(t, "oauth.register", map[string]any{"skill_id": skillID, "app_id": "demo", "client_id": "c",
		"auth_endpoint": "https://provider.invalid/authorize", "token_endpoint": "https://provider.invalid/token"}, "oauth.register.response"))
}

// TestCLIFindsTheUnitsStore: commands typed in a shell, with no
// --data-dir, find the database of the daemon a unit runs: the user
// unit's in ~/.local/state/ovos-oauth, and, as root or the unit's user,
// the system unit's in /var/lib/ovos-oauth. backup reaches the running
// daemon's control socket there; doctor reads the stopped one's file.
func TestCLIFindsTheUnitsStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit string
		// stateDir is %S: the user manager's $XDG_STATE_HOME (by default
		// ~/.local/state), the system manager's /var/lib.
		stateDir func(t *testing.T, home string) string
	}{
		{"ovos-oauth-user.service", func(_ *testing.T, home string) string { return filepath.Join(home, ".local", "state") }},
		{"ovos-oauth.service", func(t *testing.T, _ string) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			shell := shellEnv(t, home)
			dataDir := unitDataDir(t, tt.unit, tt.stateDir(t, home))
			if tt.unit == "ovos-oauth.service" {
				// The test runs as root or as the owner of this folder.
				shell["OVOS_OAUTH_SYSTEM_DATA_DIR"] = dataDir
			}
			unit := maps.Clone(shell)
			unit["STATE_DIRECTORY"] = dataDir
			busURL, _ := startBus(t, "127.0.0.1:0", nil)
			d := startDaemonEnv(t, busURL, dataDir, unit)
			registerDemo(t, busURL)

			env := maps.Clone(shell)
			env[envPassphrase] = backupPass
			r := runEnv(env, "backup", filepath.Join(t.TempDir(), "oauth.backup")).want(t, exitOK)
			wantAll(t, "backup", r.stdout, "from the running daemon", skillID+" demo: ")
			if err := d.stop(); err != nil {
				t.Fatal(err)
			}
			r = runEnv(shell, "doctor").want(t, exitOK)
			wantAll(t, "doctor", r.stdout, filepath.Join(dataDir, "ovos-oauth.db")+": ", "1 app,")
		})
	}
}

// formerMsg is the daemon's log line at start on the data directory of
// older versions.
const formerMsg = "the database is in the data directory of older versions, and stays there"

// TestDaemonKeepsTheFormerStore: a daemon started by hand, with no
// --data-dir, on a machine where an older version kept its database in
// ~/.local/share/ovos-oauth and the new default holds none, runs on that
// database where it is (moving nothing) and says so once in its log; a
// command finds the same database.
func TestDaemonKeepsTheFormerStore(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	shell := shellEnv(t, home)
	former := filepath.Join(home, ".local", "share", "ovos-oauth")
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	old := startDaemonEnv(t, busURL, former, shell)
	registerDemo(t, busURL)
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}

	// On the bus before the daemon: its oauth.ping says it is there, and a
	// request sent before might reach nobody.
	sk := newSkill(t, busURL, skillID)
	logs := newLogSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--bus-url", busURL, "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1",
			"--qr-dir", t.TempDir(), "--log-format", "json"}, func(k string) string { return shell[k] }, &syncBuffer{}, logs)
	}()
	var started map[string]any
	select {
	case started = <-logs.started:
	case err := <-done:
		t.Fatalf("run(serve) = %v before it started; log:\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatalf("the daemon did not start in 10s; log:\n%s", logs)
	}
	if started["data_dir"] != former {
		t.Errorf("the daemon runs on %v, want the former default %s", started["data_dir"], former)
	}
	sk.Expect(t, "oauth.ping")
	st := noErr(t, sk.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	if apps, _ := st["apps"].([]any); len(apps) != 1 {
		t.Errorf("oauth.status has %d apps, want the one of the former database", len(apps))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run(serve) = %v", err)
	}

	var said []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == formerMsg {
			said = append(said, rec)
		}
	}
	if len(said) != 1 {
		t.Fatalf("the log says %q %d times, want once; log:\n%s", formerMsg, len(said), logs)
	}
	def := filepath.Join(home, ".local", "state", "ovos-oauth")
	if said[0]["data_dir"] != former || said[0]["default"] != def {
		t.Errorf("the log line %v, want data_dir %s and default %s", said[0], former, def)
	}
	if _, err := os.Stat(def); !os.IsNotExist(err) {
		t.Errorf("the daemon made the new default %s (%v); it should leave the database where it is", def, err)
	}
	r := runEnv(shell, "doctor").want(t, exitOK)
	wantAll(t, "doctor", r.stdout, filepath.Join(former, "ovos-oauth.db")+": ", "1 app,")
}

// TestCommandsFindNoStore: a command on the database that finds none says
// where it looked and what to pass, in the user's language, and changes
// nothing.
func TestCommandsFindNoStore(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	shell := shellEnv(t, home)
	shell[envPassphrase] = backupPass
	looked := []string{filepath.Join(home, ".local", "state", "ovos-oauth"), filepath.Join(home, ".local", "share", "ovos-oauth"),
		shell["OVOS_OAUTH_SYSTEM_DATA_DIR"]}
	file := filepath.Join(t.TempDir(), "oauth.backup")
	for _, args := range [][]string{{"doctor"}, {"backup", file}, {"restore", file}, {"import"}} {
		r := runEnv(shell, args...).want(t, exitFailed)
		wantAll(t, args[0], r.err.Error(), append(looked, "--data-dir DIR", "sudo")...)
	}
	de := maps.Clone(shell)
	de["OVOS_OAUTH_LANG"] = "de-de"
	r := runEnv(de, "doctor").want(t, exitFailed)
	wantAll(t, "doctor in German", r.err.Error(), "keine Datenbank von ovos-oauth gefunden", looked[0])
	entries, err := os.ReadDir(home)
	if err != nil || len(entries) != 0 {
		t.Errorf("the commands left %v in the home, want nothing", entries)
	}
}

// TestDataDirHelp: --data-dir's help says where the folder is looked for.
func TestDataDirHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"backup", "restore", "serve"} {
		r := runEnv(shellEnv(t, t.TempDir()), cmd, "--help").want(t, exitOK)
		line := ""
		for l := range strings.Lines(r.stderr) {
			if strings.Contains(l, "--data-dir ") {
				line = l
			}
		}
		wants := []string{"$STATE_DIRECTORY", "~/.local/state/ovos-oauth", "~/.local/share/ovos-oauth"}
		if cmd != "serve" {
			wants = append(wants, "/var/lib/ovos-oauth")
		}
		wantAll(t, cmd+" --help's --data-dir", line, wants...)
	}
}
