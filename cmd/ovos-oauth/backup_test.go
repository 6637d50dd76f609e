package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/term"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

func init() {
	// scrypt at age's default costs seconds under the race detector;
	// the format is the same at any work factor.
	backupWorkFactor = 10
}

const backupPass = "a long passphrase for the tests"

// runBackupCLI runs backup or restore as main does, with the passphrase
// in the environment when pass is not empty.
func runBackupCLI(t *testing.T, pass string, args ...string) cliResult {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	if pass != "" {
		env[envPassphrase] = pass
	}
	var stdout, stderr syncBuffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return cliResult{stdout.String(), stderr.String(), exitCode(err), err}
}

// loggedIn starts a daemon with one app logged in through the provider,
// and returns the access token the skill got.
func loggedIn(t *testing.T) (*setup, string) {
	t.Helper()
	s := newSetup(t, map[string]string{"web": secret}, "demo")
	s.register(t, "demo", "web", secret, nil)
	got := noErr(t, s.skill.request(t, "oauth.get", app("demo"), "oauth.url"))
	s.p.Login(t, got["url"].(string))
	at := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demo")))
	return s, at
}

// storeToken reads the token of the app from a stopped daemon's store.
func storeToken(t *testing.T, dataDir, mungedID string) *oauth.Token {
	t.Helper()
	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	defer db.Close()
	tok, err := db.Token(mungedID)
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	return tok
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// TestBackupRestoreRoundTrip: a backup made while the daemon runs (through
// its socket: no secret on the bus, none in the output or the logs),
// restored into a new data directory with a key file of its own, gives a
// daemon there a token the provider accepts, which it refreshes, and the
// ovos_utils files hold it as soon as that daemon starts.
func TestBackupRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	s, at := loggedIn(t)
	watcher := bustest.Dial(t, s.d.busURL)
	file := filepath.Join(t.TempDir(), "oauth.backup")

	r := runBackupCLI(t, backupPass, "backup", file, "--data-dir", s.d.dataDir).want(t, exitOK)
	if !strings.Contains(r.stdout, "from the running daemon") || !strings.Contains(r.stdout, skillID+" demo: token issued") {
		t.Errorf("backup printed:\n%s", r.stdout)
	}
	checkMode(t, file)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{at, secret} {
		for what, text := range map[string]string{"the file": string(raw), "the output": r.stdout + r.stderr, "the daemon's log": s.d.logs.String()} {
			if strings.Contains(text, leak) {
				t.Errorf("%s holds a secret in the clear", what)
			}
		}
	}
	for _, f := range watcher.Frames() {
		if bytes.Contains(f, []byte(at)) {
			t.Errorf("a frame on the bus during the backup holds the access token: %.80s", f)
		}
	}
	if !strings.Contains(s.d.logs.String(), "copy of the store handed out for a backup") {
		t.Error("the daemon did not log the copy it handed out")
	}
	if err := s.d.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(s.d.dataDir, "control.sock")); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived the daemon: %v", err)
	}

	// Stopped, the same backup comes from the file.
	stopped := filepath.Join(t.TempDir(), "stopped.backup")
	r = runBackupCLI(t, backupPass, "backup", stopped, "--data-dir", s.d.dataDir).want(t, exitOK)
	if !strings.Contains(r.stdout, "no daemon running") {
		t.Errorf("backup of a stopped daemon printed:\n%s", r.stdout)
	}

	// As a re-flashed device's: made by the package or the unit, empty.
	fresh := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	r = runBackupCLI(t, backupPass, "restore", file, "--data-dir", fresh).want(t, exitOK)
	if !strings.Contains(r.stdout, "restored  "+skillID+"_demo: app added; token issued") || !strings.Contains(r.stdout, "1 restored, 0 kept, 0 skipped") {
		t.Errorf("restore printed:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, at) || strings.Contains(r.stdout+r.stderr, secret) {
		t.Error("restore printed a secret")
	}
	checkMode(t, filepath.Join(fresh, "ovos-oauth.db"))
	oldKey, _ := os.ReadFile(filepath.Join(s.d.dataDir, store.KeyFileName))
	newKey, _ := os.ReadFile(filepath.Join(fresh, store.KeyFileName))
	if len(newKey) == 0 || bytes.Equal(oldKey, newKey) {
		t.Fatal("the restored store does not have a key of its own")
	}

	d2 := startDaemon(t, s.d.busURL, fresh)
	tokenFile := filepath.Join(mirror.DefaultDir(func(k string) string { return map[string]string{"HOME": d2.home}[k] }), "ovos_oauth.json")
	polltest.Until(t, "the restored token in the ovos_utils file", func() bool {
		data, _ := os.ReadFile(tokenFile)
		var entries map[string]map[string]any
		return json.Unmarshal(data, &entries) == nil && entries[skillID+"_demo"]["access_token"] == at
	})
	printed := strings.TrimSpace(runCLI(t, "token", skillID, "demo", "--bus-url", d2.busURL).want(t, exitOK).stdout)
	if got := s.p.Userinfo(t, printed); got != 200 {
		t.Errorf("userinfo with the restored token: %d, want 200", got)
	}
	before, _ := s.p.Refreshes()
	ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demo"), "oauth.refresh.response"))
	if ref["result"] != "Ok" {
		t.Fatalf("oauth.refresh of the restored token = %v", ref)
	}
	if after, _ := s.p.Refreshes(); after <= before {
		t.Errorf("the provider saw no refresh (%d, then %d)", before, after)
	}
	newAt := strings.TrimSpace(runCLI(t, "token", skillID, "demo", "--bus-url", d2.busURL).want(t, exitOK).stdout)
	if newAt == at {
		t.Error("the token is the same after the refresh")
	}
	if got := s.p.Userinfo(t, newAt); got != 200 {
		t.Errorf("userinfo with the refreshed token: %d, want 200", got)
	}
}

// TestRestoreKeepsNewerToken: a backup restored over a store whose token
// is newer leaves it, unless --force; and never while the daemon runs.
func TestRestoreKeepsNewerToken(t *testing.T) {
	t.Parallel()
	s, first := loggedIn(t)
	file := filepath.Join(t.TempDir(), "oauth.backup")
	runBackupCLI(t, backupPass, "backup", file, "--data-dir", s.d.dataDir).want(t, exitOK)

	// A second login: the store's token is newer than the backup's now.
	got := noErr(t, s.skill.request(t, "oauth.get", app("demo"), "oauth.url"))
	s.p.Login(t, got["url"].(string))
	second := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demo")))

	r := runBackupCLI(t, backupPass, "restore", file, "--data-dir", s.d.dataDir).want(t, exitFailed)
	if msg := r.err.Error(); !strings.Contains(msg, "sudo systemctl stop ovos-oauth") || !strings.Contains(msg, "nothing was restored") {
		t.Errorf("restore while the daemon runs: %v", msg)
	}
	if err := s.d.stop(); err != nil {
		t.Fatal(err)
	}
	id := skillID + "_demo"

	r = runBackupCLI(t, backupPass, "restore", file, "--data-dir", s.d.dataDir).want(t, exitOK)
	if !strings.Contains(r.stdout, "kept      "+id+": the token in this store is as new as the backup's or newer") || !strings.Contains(r.stdout, "0 restored, 1 kept") {
		t.Errorf("restore over a newer token printed:\n%s", r.stdout)
	}
	if tok := storeToken(t, s.d.dataDir, id); tok.AccessToken.Reveal() != second {
		t.Error("the newer token was replaced by the backup's")
	}

	r = runBackupCLI(t, backupPass, "restore", file, "--force", "--data-dir", s.d.dataDir).want(t, exitOK)
	if !strings.Contains(r.stdout, "restored  "+id) {
		t.Errorf("restore --force printed:\n%s", r.stdout)
	}
	if tok := storeToken(t, s.d.dataDir, id); tok.AccessToken.Reveal() != first {
		t.Error("--force did not put the backup's token back")
	}
}

// TestRestoreRefusesBadBackups: a wrong passphrase, a file cut short and a
// file changed each fail with a clear message, and nothing is written: the
// data directory is not even made.
func TestRestoreRefusesBadBackups(t *testing.T) {
	t.Parallel()
	s, _ := loggedIn(t)
	file := filepath.Join(t.TempDir(), "oauth.backup")
	runBackupCLI(t, backupPass, "backup", file, "--data-dir", s.d.dataDir).want(t, exitOK)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	short := filepath.Join(dir, "short.backup")
	changed := filepath.Join(dir, "changed.backup")
	os.WriteFile(short, data[:len(data)*2/3], 0o600)
	flipped := bytes.Clone(data)
	flipped[len(flipped)-10] ^= 0x20
	os.WriteFile(changed, flipped, 0o600)

	for _, tc := range []struct {
		name, file, pass, want string
	}{
		{"wrong passphrase", file, backupPass + "?", "the passphrase does not open"},
		{"cut short", short, backupPass, "is not a whole backup"},
		{"changed", changed, backupPass, "is not a whole backup"},
		{"missing", filepath.Join(dir, "none"), backupPass, "no such file"},
	} {
		fresh := filepath.Join(t.TempDir(), "data")
		r := runBackupCLI(t, tc.pass, "restore", tc.file, "--data-dir", fresh).want(t, exitFailed)
		if msg := r.err.Error(); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, msg, tc.want)
		}
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Errorf("%s: the data directory was made (%v): something was written", tc.name, err)
		}
	}
}

// TestBackupFailsCleanly: without a passphrase (no terminal, no variable),
// without a database or without its key, backup says what to do and
// writes no file.
func TestBackupFailsCleanly(t *testing.T) {
	t.Parallel()
	if term.IsTerminal(int(os.Stdin.Fd())) {
		t.Skip("stdin is a terminal: backup would ask for the passphrase")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	db.Close()
	noKey, noDB := t.TempDir(), t.TempDir()
	os.Link(filepath.Join(dataDir, "ovos-oauth.db"), filepath.Join(noKey, "ovos-oauth.db"))
	os.Link(filepath.Join(dataDir, store.KeyFileName), filepath.Join(noDB, store.KeyFileName))
	for _, tc := range []struct {
		name, pass, dataDir, want string
	}{
		{"no passphrase", "", dataDir, "no passphrase: run it at a terminal, which asks for it, or set $OVOS_OAUTH_BACKUP_PASSPHRASE"},
		{"no database", backupPass, noDB, "no database at " + filepath.Join(noDB, "ovos-oauth.db") + ": is the data directory right?"},
		{"no key", backupPass, noKey, "key file"},
	} {
		file := filepath.Join(t.TempDir(), "oauth.backup")
		r := runBackupCLI(t, tc.pass, "backup", file, "--data-dir", tc.dataDir).want(t, exitFailed)
		if !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, r.err, tc.want)
		}
		if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 0 {
			t.Errorf("%s: left %v", tc.name, entries)
		}
	}
	runBackupCLI(t, backupPass, "backup", "--passphrase", "x", "f").want(t, exitUsage)
}

// TestRestoreAsRootGivesFilesToTheService: root restoring into the system
// service's data directory (another user's) leaves the database and key
// file it made to that user, or the daemon could not open them.
func TestRestoreAsRootGivesFilesToTheService(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := filepath.Join(t.TempDir(), "data")
	db := storetest.Open(t, storetest.Path(filepath.Join(src, "ovos-oauth.db")))
	if err := db.PutApp(&oauth.App{SkillID: "s", AppID: "a", ClientID: "c", AuthEndpoint: "https://p.example/a", TokenEndpoint: "https://p.example/t"}, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	file := filepath.Join(t.TempDir(), "oauth.backup")
	runBackupCLI(t, backupPass, "backup", file, "--data-dir", src).want(t, exitOK)

	service := filepath.Join(t.TempDir(), "ovos-oauth")
	if err := os.Mkdir(service, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(service, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	runBackupCLI(t, backupPass, "restore", file, "--data-dir", service).want(t, exitOK)
	for _, name := range []string{"ovos-oauth.db", store.KeyFileName} {
		fi, err := os.Stat(filepath.Join(service, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s is owned by %d:%d, want the data directory's owner 65534:65534", name, st.Uid, st.Gid)
		}
	}
	r := runBackupCLI(t, backupPass, "restore", file, "--data-dir", filepath.Join(t.TempDir(), "missing")).want(t, exitFailed)
	if !strings.Contains(r.err.Error(), "there is no data directory") {
		t.Errorf("root restoring into a missing data directory: %v", r.err)
	}
}
