package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

const importedApp = "imported"

// writePluginFiles writes ovos-PHAL-plugin-oauth's two files into dir, as
// the plugin leaves them: an app with a token, an app without one, a token
// without an app and an app it cannot read. It returns a check that they
// are still as written.
func writePluginFiles(t *testing.T, dir string, expiresAt time.Time, tokenEndpoint string) (unchanged func(t *testing.T)) {
	t.Helper()
	id := oauth.MungedID(skillID, importedApp)
	apps := fmt.Sprintf(`{
    %[1]q: {
        "oauth_service": %[1]q,
        "client_id": "plugin-client",
        "client_secret": "plugin-secret",
        "auth_endpoint": "https://provider.invalid/authorize",
        "token_endpoint": %[2]q,
        "callback_endpoint": "http://0.0.0.0:36536/auth/callback/%[1]s",
        "scope": "read",
        "shell_integration": true
    },
    "skill-bare.test_notoken": {
        "oauth_service": "skill-bare.test_notoken",
        "client_id": null,
        "client_secret": null,
        "auth_endpoint": "https://provider.invalid/authorize",
        "token_endpoint": "https://provider.invalid/token",
        "callback_endpoint": "",
        "scope": "",
        "shell_integration": false
    },
    "skill-broken.test_app": {"client_id": 7}
}`, id, tokenEndpoint)
	tokens := fmt.Sprintf(`{
    %q: {
        "access_token": "plugin-access",
        "token_type": "Bearer",
        "expires_in": 7200,
        "refresh_token": "plugin-refresh",
        "scope": "read",
        "expires_at": %d.5
    },
    "skill-gone.test_app": {"access_token": "orphan"}
}`, id, expiresAt.Unix())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	want := map[string]string{"ovos_oauth_apps.json": apps, "ovos_oauth.json": tokens}
	for name, data := range want {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return func(t *testing.T) {
		t.Helper()
		for name, data := range want {
			p := filepath.Join(dir, name)
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, []byte(data)) || !fi.ModTime().Equal(old) || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s was changed (mtime %v, want %v; mode %v):\n%s", name, fi.ModTime(), old, fi.Mode(), got)
			}
		}
	}
}

// TestDaemonImportsPluginOnStart: the first start takes the plugin's apps and
// tokens; a skill gets the imported token at once, without a login.
func TestDaemonImportsPluginOnStart(t *testing.T) {
	t.Parallel()
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	pluginDir := filepath.Join(t.TempDir(), "json_database")
	expiresAt := time.Now().Add(2 * time.Hour)
	unchanged := writePluginFiles(t, pluginDir, expiresAt, "https://provider.invalid/token")

	d := startDaemon(t, busURL, t.TempDir(), "--import-from", pluginDir)
	sk := newSkill(t, busURL, skillID)
	tok := noErr(t, sk.request(t, "oauth.token.get", app(importedApp), "oauth.token.get.response"))
	if tok["access_token"] != "plugin-access" || tok["token_type"] != "Bearer" {
		t.Errorf("oauth.token.get = %v, want the plugin's access token", tok)
	}
	if got, _ := tok["expires_at"].(float64); got != float64(expiresAt.Unix())+0.5 {
		t.Errorf("oauth.token.get expires_at = %v, want %v", tok["expires_at"], float64(expiresAt.Unix())+0.5)
	}
	if _, ok := tok["refresh_token"]; ok {
		t.Error("oauth.token.get carries the refresh token")
	}

	st := noErr(t, sk.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	byID := map[string]map[string]any{}
	for _, a := range st["apps"].([]any) {
		a := a.(map[string]any)
		byID[a["munged_id"].(string)] = a
	}
	if a := byID[oauth.MungedID(skillID, importedApp)]; a == nil || a["authorized"] != true || a["needs_creds"] != false {
		t.Errorf("oauth.status app %s = %v, want authorized, with credentials", oauth.MungedID(skillID, importedApp), a)
	}
	if a := byID["skill-bare.test_notoken"]; a == nil || a["authorized"] != false || a["needs_creds"] != true {
		t.Errorf("oauth.status app skill-bare.test_notoken = %v, want not authorized, needing credentials", a)
	}
	if len(byID) != 2 {
		t.Errorf("oauth.status lists %d apps, want 2: %v", len(byID), st["apps"])
	}

	logs := d.logs.String()
	for _, want := range []string{`"entry":"skill-broken.test_app"`, `"entry":"skill-gone.test_app"`, `"imported":2`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "plugin-access") || strings.Contains(logs, "plugin-refresh") || strings.Contains(logs, "plugin-secret") {
		t.Errorf("a secret reached the logs:\n%s", logs)
	}
	unchanged(t)
}

// TestDaemonRefreshesImportedToken: an imported token that has expired is
// refreshed with the plugin's refresh token and client credentials, at the
// plugin's token endpoint: the skill gets a fresh token, no login needed.
func TestDaemonRefreshesImportedToken(t *testing.T) {
	t.Parallel()
	refreshed := make(chan struct{}, 1)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "plugin-refresh" ||
			user != "plugin-client" || pass != "plugin-secret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		select {
		case refreshed <- struct{}{}:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"fresh-access","token_type":"Bearer","expires_in":3600,"refresh_token":"rotated"}`)
	}))
	t.Cleanup(provider.Close)
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	pluginDir := t.TempDir()
	unchanged := writePluginFiles(t, pluginDir, time.Now().Add(-time.Hour), provider.URL+"/token")

	d := startDaemon(t, busURL, t.TempDir(), "--import-from", pluginDir)
	sk := newSkill(t, busURL, skillID)
	tok := noErr(t, sk.request(t, "oauth.token.get", app(importedApp), "oauth.token.get.response"))
	if tok["access_token"] != "fresh-access" {
		t.Errorf("oauth.token.get access_token = %v, want the refreshed one; logs:\n%s", tok["access_token"], d.logs)
	}
	select {
	case <-refreshed:
	default:
		t.Error("the provider saw no refresh with the plugin's refresh token and credentials")
	}
	unchanged(t)
}

// TestDaemonImportsOnlyIntoEmptyStore: a store with an app is not touched
// at start, so the daemon never reads its own mirror back.
func TestDaemonImportsOnlyIntoEmptyStore(t *testing.T) {
	t.Parallel()
	busURL, _ := startBus(t, "127.0.0.1:0", nil)
	dataDir := t.TempDir()
	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	mine := &oauth.App{SkillID: skillID, AppID: "mine", AuthEndpoint: "https://p.invalid/a", TokenEndpoint: "https://p.invalid/t", PKCE: true}
	if err := db.PutApp(mine, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	pluginDir := t.TempDir()
	unchanged := writePluginFiles(t, pluginDir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")

	startDaemon(t, busURL, dataDir, "--import-from", pluginDir)
	sk := newSkill(t, busURL, skillID)
	st := noErr(t, sk.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	if apps := st["apps"].([]any); len(apps) != 1 || apps[0].(map[string]any)["munged_id"] != mine.MungedID() {
		t.Errorf("oauth.status apps = %v, want %s alone", apps, mine.MungedID())
	}
	wantErr(t, sk.request(t, "oauth.token.get", app(importedApp), "oauth.token.get.response"), "unknown_app")
	unchanged(t)
}

// importEnv is an environment without config files, its home in a temp dir.
func importEnv(t *testing.T) map[string]string {
	return map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(),
		"MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
}

func runImport(t *testing.T, env map[string]string, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"import"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), err
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	env := importEnv(t)
	// The default directory: ovos_utils' under $HOME/.cache.
	pluginDir := filepath.Join(env["HOME"], ".cache", "mycroft", "json_database")
	unchanged := writePluginFiles(t, pluginDir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	dataDir := t.TempDir()

	out, err := runImport(t, env, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("import error = %v; output:\n%s", err, out)
	}
	id := oauth.MungedID(skillID, importedApp)
	for _, want := range []string{
		"importing from " + pluginDir,
		"imported  " + id + " (with its token, expires ",
		"imported  skill-bare.test_notoken (no token: log in again)",
		`skipped   "skill-broken.test_app" in ovos_oauth_apps.json: client_id is not a string`,
		`skipped   "skill-gone.test_app" in ovos_oauth.json: no app of that name in ovos_oauth_apps.json`,
		"2 apps imported (1 with a token), 0 kept, 2 entries skipped; " + pluginDir + " was not changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "plugin-") {
		t.Errorf("import output shows a secret:\n%s", out)
	}

	// Again, with --from: everything is there already, nothing is replaced.
	out, err = runImport(t, env, "--data-dir", dataDir, "--from", pluginDir)
	if err != nil {
		t.Fatalf("second import error = %v; output:\n%s", err, out)
	}
	for _, want := range []string{
		"kept      " + id + ": already in ovos-oauth's database",
		"0 apps imported (0 with a token), 2 kept, 2 entries skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second import output lacks %q:\n%s", want, out)
		}
	}

	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	tok, err := db.Token(id)
	if err != nil || tok.RefreshToken != "plugin-refresh" || tok.AccessToken != "plugin-access" {
		t.Errorf("store token = %v, %v; want the plugin's tokens", tok, err)
	}
	// While the daemon (here: this open store) holds the lock, import fails
	// and says what to do.
	out, err = runImport(t, env, "--data-dir", dataDir, "--from="+pluginDir)
	if err == nil || !strings.Contains(err.Error(), "file is locked") || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("import on a locked store error = %v, want the lock's and a hint to stop the daemon; output:\n%s", err, out)
	}
	db.Close()
	unchanged(t)
}

func TestImportCommandFails(t *testing.T) {
	t.Parallel()
	env := importEnv(t)
	pluginDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(pluginDir, "ovos_oauth_apps.json"), 0o700); err != nil { // unreadable as a file
		t.Fatal(err)
	}
	if _, err := runImport(t, env, "--data-dir", t.TempDir(), "--from", pluginDir); err == nil {
		t.Error("import of an unreadable apps file error = nil, want one (exit 1)")
	}
	if _, err := runImport(t, env, "--data-dir", t.TempDir(), "--from", pluginDir, "extra"); err == nil {
		t.Error("import with a stray argument error = nil, want one")
	}
	// No files at all is an import of nothing, not a failure.
	out, err := runImport(t, env, "--data-dir", t.TempDir(), "--from", t.TempDir())
	if err != nil || !strings.Contains(out, "0 apps imported") {
		t.Errorf("import of an empty directory = %v, output:\n%s", err, out)
	}
}

// TestSecondStoreImportsNothingOfTheFirst: a daemon with a data dir of its
// own beside another one, sharing its ovos_utils folder (a manual run beside
// the unit, make run, a reinstall with a new data dir), takes none of the
// other's apps and tokens: not those it registered, nor those it imported
// from the plugin. Two stores would refresh one rotating refresh token, and
// one of them would end in invalid_grant. What the plugin writes there
// afterwards is the plugin's, and is imported.
func TestSecondStoreImportsNothingOfTheFirst(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	jsonDir := filepath.Join(home, ".cache", "mycroft", "json_database")
	// The plugin's files, which the first daemon imports: its mirror then
	// holds those apps as its own.
	writePluginFiles(t, jsonDir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	importedID := oauth.MungedID(skillID, importedApp)

	busA, _ := startBus(t, "127.0.0.1:0", nil)
	dataA := t.TempDir()
	markA := mirrorOwner(filepath.Join(dataA, "ovos-oauth.db")) // the mark names A's database
	startDaemonHome(t, busA, dataA, home)
	skA := newSkill(t, busA, skillID)
	noErr(t, skA.request(t, "oauth.register", map[string]any{"skill_id": skillID, "app_id": "mine", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}, "oauth.register.response"))
	mine := oauth.MungedID(skillID, "mine")
	waitJSON(t, filepath.Join(jsonDir, "ovos_oauth_apps.json"), func(m map[string]any) bool {
		for _, id := range []string{importedID, "skill-bare.test_notoken", mine} {
			if e, _ := m[id].(map[string]any); e == nil || e["_ovos_oauth"] != markA {
				return false
			}
		}
		return true
	})
	waitJSON(t, filepath.Join(jsonDir, "ovos_oauth.json"), func(m map[string]any) bool {
		e, _ := m[importedID].(map[string]any)
		return e != nil && e["_ovos_oauth"] == markA && e["refresh_token"] == "plugin-refresh"
	})

	// The plugin, running again, adds an app of its own.
	later := "skill-later.test_app"
	addEntry(t, filepath.Join(jsonDir, "ovos_oauth_apps.json"), later, `{"oauth_service": "skill-later.test_app", "client_id": "later-client",
		"client_secret": null, "auth_endpoint": "https://provider.invalid/authorize", "token_endpoint": "https://provider.invalid/token",
		"callback_endpoint": "", "scope": "", "shell_integration": true}`)
	addEntry(t, filepath.Join(jsonDir, "ovos_oauth.json"), later, `{"access_token": "later-access", "refresh_token": "later-refresh",
		"expires_in": 3600, "expires_at": 1767322800.0}`)

	busB, _ := startBus(t, "127.0.0.1:0", nil)
	b := startDaemonHome(t, busB, t.TempDir(), home)
	skB := newSkill(t, busB, skillID)
	st := noErr(t, skB.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	var ids []string
	for _, a := range st["apps"].([]any) {
		ids = append(ids, a.(map[string]any)["munged_id"].(string))
	}
	if len(ids) != 1 || ids[0] != later {
		t.Errorf("the second daemon's apps = %v, want %s alone: the first daemon's were imported", ids, later)
	}
	logs := b.logs.String()
	for _, want := range []string{`"imported":1`, `"written_by_ovos_oauth":3`, `"dir":"` + jsonDir + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the second daemon's logs lack %s:\n%s", want, logs)
		}
	}
}

// addEntry adds an entry to a json_database file as another program does:
// it reads the whole object and writes it back with the entry added.
func addEntry(t *testing.T, path, id, value string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[id] = json.RawMessage(value)
	out, err := json.MarshalIndent(m, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
