package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// fakeSystem is a machine for import --service: a file system root of its
// own with homes under /home, a passwd that knows users, and this test
// binary (TestMain) standing in for the ovos-oauth executable. Nothing of
// the real /home is read. steps counts the processes started.
type fakeSystem struct {
	root  string
	users map[string]*user.User
	steps atomic.Int32
}

func newFakeSystem(t *testing.T) *fakeSystem {
	return &fakeSystem{root: t.TempDir(), users: map[string]*user.User{}}
}

func (f *fakeSystem) system(root bool) serviceSystem {
	return serviceSystem{
		host: migrate.Host{Root: f.root, LookupUser: func(name string) (*user.User, error) {
			if u, ok := f.users[name]; ok {
				return u, nil
			}
			return nil, user.UnknownUserError(name)
		}},
		root: root,
		command: func(args, env []string) *exec.Cmd {
			f.steps.Add(1)
			return testBinary(args, env)
		},
	}
}

// testBinary runs this test binary as ovos-oauth with args (see TestMain),
// in the environment env alone.
func testBinary(args, env []string) *exec.Cmd {
	cmd := proctest.Command("ovos-oauth", args...)
	cmd.Env = append(env, proctest.Env("ovos-oauth")...)
	return cmd
}

// ovosUser adds the ovos user, home /home/ovos, and returns the folder of
// ovos_utils' files in that home.
func (f *fakeSystem) ovosUser(t *testing.T) string {
	t.Helper()
	uid := "4242"
	if os.Getuid() != 0 {
		uid = "1000" // not changed to without root: any but 0
	}
	f.users["ovos"] = &user.User{Username: "ovos", Uid: uid, Gid: uid, HomeDir: "/home/ovos"}
	return filepath.Join(f.root, "home", "ovos", ".cache", "mycroft", "json_database")
}

// serviceConfig is the configuration of import --service with dataDir,
// and extra flags.
func serviceConfig(t *testing.T, dataDir string, extra ...string) (config.Config, func(string) string) {
	t.Helper()
	env := importEnv(t)
	getenv := func(k string) string { return env[k] }
	args := append([]string{"--data-dir", dataDir, "--log-format", "json", "--public-host", "127.0.0.1"}, extra...)
	cfg, err := config.Load(args, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, getenv
}

func storeApps(t *testing.T, dataDir string) []string {
	t.Helper()
	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	defer db.Close()
	apps, err := db.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.MungedID())
	}
	return ids
}

// logLines decodes JSON log lines.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestImportService: import --service --if-empty, as the system unit runs
// it, finds the plugin's files in the ovos user's home, imports them into an
// empty store and says so in one line; with apps in the store it reads
// nothing and says nothing.
func TestImportService(t *testing.T) {
	t.Parallel()
	fs := newFakeSystem(t)
	dir := fs.ovosUser(t)
	unchanged := writePluginFiles(t, dir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	dataDir := t.TempDir()
	cfg, getenv := serviceConfig(t, dataDir)

	var stdout, stderr bytes.Buffer
	if err := importService(cfg, true, getenv, &stdout, &stderr, fs.system(false)); err != nil {
		t.Fatalf("importService() = %v; stderr:\n%s", err, stderr.String())
	}
	if got := storeApps(t, dataDir); strings.Join(got, " ") != "skill-bare.test_notoken "+oauth.MungedID(skillID, importedApp) {
		t.Errorf("store apps = %v, want the plugin's two", got)
	}
	var done map[string]any
	for _, l := range logLines(t, stderr.String()) {
		if l["msg"] == "import of ovos-PHAL-plugin-oauth's apps done" {
			done = l
		}
	}
	if done == nil || done["dir"] != dir || done["imported"] != 2.0 || done["tokens"] != 1.0 || done["skipped"] != 2.0 {
		t.Errorf("no line saying 2 apps were imported from %s; log:\n%s", dir, stderr.String())
	}
	if strings.Contains(stderr.String(), "plugin-access") || strings.Contains(stderr.String(), "plugin-refresh") ||
		strings.Contains(stderr.String(), "plugin-secret") || stdout.Len() != 0 {
		t.Errorf("a secret in the log, or output on stdout:\n%s\n%s", stderr.String(), stdout.String())
	}
	unchanged(t)

	// Again, as at every start: the store has apps, so the files are not
	// read (one step, not two) and nothing is logged.
	fs.steps.Store(0)
	stderr.Reset()
	if err := importService(cfg, true, getenv, &stdout, &stderr, fs.system(false)); err != nil {
		t.Fatalf("importService() again = %v; stderr:\n%s", err, stderr.String())
	}
	if n := fs.steps.Load(); n != 1 || stderr.Len() != 0 {
		t.Errorf("with apps in the store: %d steps run, log %q; want 1 and nothing", n, stderr.String())
	}
}

// TestImportServiceFindsNothing: where nothing is found, the one line says
// where the import looked; where several homes hold files, which.
func TestImportServiceFindsNothing(t *testing.T) {
	t.Parallel()
	t.Run("nothing", func(t *testing.T) {
		t.Parallel()
		fs := newFakeSystem(t)
		ovosDir := fs.ovosUser(t)
		cfg, getenv := serviceConfig(t, t.TempDir())
		var stderr bytes.Buffer
		if err := importService(cfg, true, getenv, &bytes.Buffer{}, &stderr, fs.system(false)); err != nil {
			t.Fatalf("importService() = %v; stderr:\n%s", err, stderr.String())
		}
		lines := logLines(t, stderr.String())
		want := ovosDir + ", " + filepath.Join(fs.root, "home", "*", ".cache", "mycroft", "json_database")
		if len(lines) != 1 || lines[0]["msg"] != "no ovos-PHAL-plugin-oauth files to import" || lines[0]["looked_in"] != want || lines[0]["level"] != "INFO" {
			t.Errorf("log = %v, want one info line looking in %s", lines, want)
		}
	})
	t.Run("several homes", func(t *testing.T) {
		t.Parallel()
		fs := newFakeSystem(t)
		for i, name := range []string{"alice", "pi"} {
			writePluginFiles(t, filepath.Join(fs.root, "home", name, ".cache", "mycroft", "json_database"), time.Now(), "https://provider.invalid/token")
			if os.Getuid() == 0 { // root's homes are passed over
				if err := os.Lchown(filepath.Join(fs.root, "home", name), 4242+i, 4242+i); err != nil {
					t.Fatal(err)
				}
			}
		}
		dataDir := t.TempDir()
		cfg, getenv := serviceConfig(t, dataDir)
		var stderr bytes.Buffer
		if err := importService(cfg, true, getenv, &bytes.Buffer{}, &stderr, fs.system(false)); err == nil {
			t.Errorf("importService() = nil, want an error (the unit goes on: ExecStartPre=-)")
		}
		if !strings.Contains(stderr.String(), "several homes") || !strings.Contains(stderr.String(), "set import_from") {
			t.Errorf("log does not say which homes and what to do:\n%s", stderr.String())
		}
		if got := storeApps(t, dataDir); len(got) != 0 {
			t.Errorf("store apps = %v, want none", got)
		}
	})
}

// TestImportServiceLeavesAnotherStoresMirror: a folder that holds another
// ovos-oauth's mirror (the user unit's, say) gives this store nothing, and
// the line says why.
func TestImportServiceLeavesAnotherStoresMirror(t *testing.T) {
	t.Parallel()
	fs := newFakeSystem(t)
	dir := fs.ovosUser(t)
	files := mirror.New(dir)
	files.LockDir = t.TempDir()
	for _, id := range []string{"a", "b"} {
		app := &oauth.App{SkillID: skillID, AppID: id, ClientID: "c", AuthEndpoint: "https://p.example/a", TokenEndpoint: "https://p.example/t"}
		if err := files.PutApp(app, ""); err != nil {
			t.Fatal(err)
		}
		if err := files.PutToken(app, &oauth.Token{AccessToken: "x", RefreshToken: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := t.TempDir()
	cfg, getenv := serviceConfig(t, dataDir)
	var stderr bytes.Buffer
	if err := importService(cfg, true, getenv, &bytes.Buffer{}, &stderr, fs.system(false)); err != nil {
		t.Fatalf("importService() = %v; stderr:\n%s", err, stderr.String())
	}
	if got := storeApps(t, dataDir); len(got) != 0 {
		t.Errorf("store apps = %v, want none of the other store's", got)
	}
	lines := logLines(t, stderr.String())
	if len(lines) != 1 || lines[0]["imported"] != 0.0 || lines[0]["written_by_ovos_oauth"] != 2.0 || lines[0]["note"] == nil {
		t.Errorf("log = %v, want one line: none imported, 2 ovos-oauth's, and what to do", lines)
	}
}

// TestImportServiceByHand: import --service without --if-empty, run by an
// admin with --from, lists what it did, also into a store with apps.
func TestImportServiceByHand(t *testing.T) {
	t.Parallel()
	fs := newFakeSystem(t)
	pluginDir := filepath.Join(t.TempDir(), "json_database")
	unchanged := writePluginFiles(t, pluginDir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	dataDir := t.TempDir()
	cfg, getenv := serviceConfig(t, dataDir, "--import-from", pluginDir)
	for i, want := range []string{"2 apps imported (1 with a token), 0 kept", "0 apps imported (0 with a token), 2 kept"} {
		var stdout, stderr bytes.Buffer
		if err := importService(cfg, false, getenv, &stdout, &stderr, fs.system(false)); err != nil {
			t.Fatalf("importService() #%d = %v; stderr:\n%s", i, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "importing from "+pluginDir) || !strings.Contains(stdout.String(), want) {
			t.Errorf("import #%d output lacks %q:\n%s", i, want, stdout.String())
		}
	}
	unchanged(t)
}

// TestImportServiceRunsStepsAsOwners: run as root, the step that reads the
// files runs as their owner, never root, and the step that writes the store
// as the owner of the data dir, so the store stays the daemon's.
func TestImportServiceRunsStepsAsOwners(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can run the steps as other users")
	}
	t.Parallel()
	const ovosUID, serviceUID = 4242, 4243
	// Other users must reach the test binary and the folders: copy the
	// binary out of go test's private work dir, open the temp dirs' way.
	exe := filepath.Join(t.TempDir(), "ovos-oauth.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	fs := newFakeSystem(t)
	sys := fs.system(true)
	sys.command = func(args, env []string) *exec.Cmd {
		cmd := testBinary(args, env)
		cmd.Path, cmd.Args[0] = exe, exe
		return cmd
	}
	fs.users["ovos"] = &user.User{Username: "ovos", Uid: "4242", Gid: "4242", HomeDir: "/home/ovos"}
	dir := filepath.Join(fs.root, "home", "ovos", ".cache", "mycroft", "json_database")
	writePluginFiles(t, dir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	dataDir := filepath.Join(t.TempDir(), "state")
	lockDir := t.TempDir()
	for _, d := range []string{filepath.Join(fs.root, "home"), filepath.Dir(dataDir), filepath.Dir(exe), lockDir} {
		for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.Chmod(lockDir, 0o1777)
	if err := filepath.Walk(filepath.Join(fs.root, "home", "ovos"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, ovosUID, ovosUID)
	}); err != nil {
		t.Fatal(err)
	}
	// One file the ovos user cannot read: read as root, it would be.
	secret := filepath.Join(dir, "ovos_oauth.json")
	if err := os.Chown(secret, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dataDir, serviceUID, serviceUID); err != nil {
		t.Fatal(err)
	}
	cfg, _ := serviceConfig(t, dataDir)
	env := map[string]string{"TMPDIR": lockDir}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer
	err = importService(cfg, true, getenv, &bytes.Buffer{}, &stderr, sys)
	if err == nil || !strings.Contains(stderr.String(), "permission denied") {
		t.Errorf("importService() = %v, want the ovos user's step refused the root-owned file; log:\n%s", err, stderr.String())
	}

	// Readable by its owner: imported, into a store the service owns.
	if err := os.Chown(secret, ovosUID, ovosUID); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if err := importService(cfg, true, getenv, &bytes.Buffer{}, &stderr, sys); err != nil {
		t.Fatalf("importService() = %v; log:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"imported":2`) {
		t.Errorf("log lacks 2 apps imported:\n%s", stderr.String())
	}
	for _, name := range []string{"ovos-oauth.db", "secrets.key"} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != serviceUID || st.Gid != serviceUID {
			t.Errorf("%s is owned by %d:%d, want the data dir's owner %d", name, st.Uid, st.Gid, serviceUID)
		}
	}
}

// unitFile reads systemd/ovos-oauth.service: its Environment= settings and
// the arguments of ovos-oauth in ExecStartPre= and ExecStart=, with %S and %t
// put where state and runtime are.
func unitFile(t *testing.T, state, runtime string) (env map[string]string, pre [][]string, start []string) {
	t.Helper()
	data, err := os.ReadFile("../../systemd/ovos-oauth.service")
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	expand := strings.NewReplacer("%S", state, "%t", runtime)
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		value = expand.Replace(value)
		switch key {
		case "Environment":
			k, v, _ := strings.Cut(value, "=")
			env[k] = v
		case "ExecStartPre", "ExecStart":
			words := strings.Fields(strings.TrimLeft(value, "-+!@:"))
			if words[0] != "/usr/bin/ovos-oauth" {
				t.Fatalf("%s runs %s, not /usr/bin/ovos-oauth", key, words[0])
			}
			if key == "ExecStart" {
				start = words[1:]
			} else {
				pre = append(pre, words[1:])
			}
		}
	}
	return env, pre, start
}

// TestSystemUnitImportsOVOSUsersFiles: the system unit, as written, imports
// the plugin's files from the home of the ovos user, though the daemon runs
// as ovos-oauth with its home in /var/lib/ovos-oauth; its log says what it
// imported from where. The unit's commands run here as they are, on a fake
// machine.
func TestSystemUnitImportsOVOSUsersFiles(t *testing.T) {
	t.Parallel()
	fs := newFakeSystem(t)
	dir := fs.ovosUser(t)
	writePluginFiles(t, dir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	state, runtime := t.TempDir(), t.TempDir()
	env, pre, start := unitFile(t, state, runtime)
	dataDir := filepath.Join(state, "ovos-oauth")
	if err := os.Mkdir(dataDir, 0o700); err != nil { // StateDirectory=
		t.Fatal(err)
	}
	// The service user's home, from sysusers.d: its state directory.
	env["HOME"] = dataDir
	env["OVOS_OAUTH_SYSTEM_CONFIG_DIR"], env["MYCROFT_SYSTEM_CONFIG"], env["XDG_CONFIG_DIRS"] = t.TempDir(), "/nonexistent", t.TempDir()

	saved := serviceHost
	serviceHost = fs.system(false)
	t.Cleanup(func() { serviceHost = saved })
	var preLog bytes.Buffer
	for _, args := range pre {
		if err := run(context.Background(), args, func(k string) string { return env[k] }, &bytes.Buffer{}, &preLog); err != nil {
			t.Errorf("ExecStartPre %v: %v", args, err)
		}
	}
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	d := startDaemonEnv(t, busURL, dataDir, env, start[1:]...)
	sk := newSkill(t, busURL, skillID)
	st := noErr(t, sk.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	if apps := st["apps"].([]any); len(apps) != 2 {
		t.Errorf("the system unit's daemon has %d apps, want the ovos user's 2; ExecStartPre log:\n%s\ndaemon log:\n%s", len(apps), &preLog, d.logs)
	}
	if want := "dir=" + dir + " imported=2"; !strings.Contains(preLog.String(), want) {
		t.Errorf("the unit's start log lacks %q:\n%s", want, &preLog)
	}
}

// TestImportServiceInLang: what import --service says when a step fails
// is in the settings' language, in the step's message and in its own.
func TestImportServiceInLang(t *testing.T) {
	t.Parallel()
	fs := newFakeSystem(t)
	missing := filepath.Join(t.TempDir(), "nothing-here")
	cfg, getenv := serviceConfig(t, t.TempDir(), "--import-from", missing, "--lang", "de-de")
	var stdout, stderr bytes.Buffer
	err := importService(cfg, false, getenv, &stdout, &stderr, fs.system(false))
	if err == nil {
		t.Fatalf("importService() from a missing folder = nil; stderr:\n%s", &stderr)
	}
	wantAll(t, "import --service", err.Error(), "import: der Schritt, der die Datenbank schreibt, ist fehlgeschlagen: ")
	wantAll(t, "the store step", stderr.String(), "import: gesucht in "+missing+": ")
	for _, english := range []string{"the step that", "looked in"} {
		if strings.Contains(err.Error()+stderr.String(), english) {
			t.Errorf("import --service: English %q: %v\n%s", english, err, &stderr)
		}
	}
}
