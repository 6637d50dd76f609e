//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/google/go-cmp/cmp"
)

const redirectURI = "http://192.168.1.20:36536/auth/callback/skill-spotify_player"

var (
	obtained = time.Date(2026, 1, 2, 3, 4, 5, 250_000_000, time.UTC)
	expiry   = obtained.Add(time.Hour)
	// expiresAt is expiry as Python's time.time() would give it.
	expiresAt = float64(expiry.UnixMicro()) / 1e6
)

// newFiles returns a Files with its data and lock directories in fresh
// temporary folders; the data directory does not exist yet.
func newFiles(t *testing.T) *mirror.Files {
	t.Helper()
	f := mirror.New(filepath.Join(t.TempDir(), "json_database"))
	f.LockDir = t.TempDir()
	return f
}

func testApp(skillID, appID string) *oauth.App {
	return &oauth.App{
		SkillID:          skillID,
		AppID:            appID,
		ClientID:         "client-id-" + appID,
		ClientSecret:     oauth.Secret("client-secret-" + appID),
		AuthEndpoint:     "https://accounts.example.com/authorize",
		TokenEndpoint:    "https://accounts.example.com/api/token",
		Scope:            "user-read-playback-state playlist-read-private",
		ShellIntegration: true,
	}
}

func testToken(appID string) *oauth.Token {
	return &oauth.Token{
		AccessToken:  oauth.Secret("access-" + appID),
		TokenType:    "Bearer",
		RefreshToken: oauth.Secret("refresh-" + appID),
		Expiry:       expiry,
		Obtained:     obtained,
		Raw:          map[string]any{"token_type": "Bearer", "expires_in": float64(3600)},
	}
}

// readJSON decodes the file at path as ovos_utils would see it.
func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", path, err, data)
	}
	return got
}

// writePython writes entries as json_database's store() does: the whole file
// rewritten in place, indented by four spaces, non-ASCII as it is.
func writePython(t *testing.T, path string, entries map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(entries); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists dir, so tests can see no temporary file was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func checkDirNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if diff := cmp.Diff(dirNames(t, dir), want); diff != "" {
		t.Errorf("files in %s mismatch (-got +want):\n%s", dir, diff)
	}
}

func TestPutTokenShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tok  *oauth.Token
		want map[string]any
	}{{
		name: "provider extras, refresh token, expiry",
		tok: &oauth.Token{
			AccessToken:  "access-1",
			TokenType:    "Bearer",
			RefreshToken: "refresh-1",
			Scope:        "user-read-playback-state",
			Expiry:       expiry,
			Obtained:     obtained,
			Raw: map[string]any{
				"access_token": "stale", // the Token's own fields win
				"token_type":   "Bearer",
				"expires_in":   float64(3600),
				"scope":        "user-read-playback-state",
				"id_token":     "eyJhbGciOi.x.y",
				"profile":      map[string]any{"name": "Zoë", "ids": []any{float64(1), "two"}},
				"_ovos_oauth":  false, // the mark is ovos-oauth's, whatever a provider sends
			},
		},
		want: map[string]any{
			"_ovos_oauth":   true,
			"access_token":  "access-1",
			"refresh_token": "refresh-1",
			"token_type":    "Bearer",
			"expires_in":    float64(3600),
			"expires_at":    expiresAt,
			"scope":         "user-read-playback-state",
			"id_token":      "eyJhbGciOi.x.y",
			"profile":       map[string]any{"name": "Zoë", "ids": []any{float64(1), "two"}},
		},
	}, {
		name: "no refresh token, expires_in from the expiry",
		tok: &oauth.Token{
			AccessToken: "access-2",
			TokenType:   "bearer",
			Expiry:      obtained.Add(90*time.Minute + 700*time.Millisecond),
			Obtained:    obtained,
		},
		want: map[string]any{
			"_ovos_oauth":  true,
			"access_token": "access-2",
			"token_type":   "bearer",
			"expires_in":   float64(5400),
			"expires_at":   float64(obtained.Add(90*time.Minute+700*time.Millisecond).UnixMicro()) / 1e6,
		},
	}, {
		name: "no expiry",
		tok: &oauth.Token{
			AccessToken: "access-3",
			Obtained:    obtained,
			Raw:         map[string]any{"token_type": "bearer", "refresh_token": "from-raw"},
		},
		want: map[string]any{
			"_ovos_oauth":  true,
			"access_token": "access-3",
			"token_type":   "bearer",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFiles(t)
			if err := f.PutToken(testApp("skill-spotify", "player"), tt.tok); err != nil {
				t.Fatalf("PutToken() error = %v", err)
			}
			want := map[string]any{"skill-spotify_player": tt.want}
			if diff := cmp.Diff(readJSON(t, f.TokenFile()), want); diff != "" {
				t.Errorf("token file mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// Python reads 1767322800 as an int; expires_at must stay a float.
func TestExpiresAtIsFloat(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	tok := testToken("player")
	tok.Expiry = time.Unix(1767322800, 0)
	if err := f.PutToken(testApp("skill", "player"), tok); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	if want := `"expires_at": 1767322800.0`; !bytes.Contains(data, []byte(want)) {
		t.Errorf("token file = %s, want it to contain %s", data, want)
	}
}

func TestPutAppShape(t *testing.T) {
	t.Parallel()
	noCreds := testApp("skill-gmail", "mail")
	noCreds.ClientID, noCreds.ClientSecret, noCreds.Scope = "", "", ""
	noCreds.ShellIntegration = false

	f := newFiles(t)
	if err := f.PutApp(testApp("skill-spotify", "player"), redirectURI); err != nil {
		t.Fatalf("PutApp() error = %v", err)
	}
	if err := f.PutApp(noCreds, "http://localhost:36536/auth/callback/skill-gmail_mail"); err != nil {
		t.Fatalf("PutApp() error = %v", err)
	}
	want := map[string]any{
		"skill-spotify_player": map[string]any{
			"oauth_service":     "skill-spotify_player",
			"client_id":         "client-id-player",
			"client_secret":     "client-secret-player",
			"auth_endpoint":     "https://accounts.example.com/authorize",
			"token_endpoint":    "https://accounts.example.com/api/token",
			"callback_endpoint": redirectURI,
			"scope":             "user-read-playback-state playlist-read-private",
			"shell_integration": true,
			"_ovos_oauth":       true,
		},
		"skill-gmail_mail": map[string]any{
			"oauth_service":     "skill-gmail_mail",
			"client_id":         nil,
			"client_secret":     nil,
			"auth_endpoint":     "https://accounts.example.com/authorize",
			"token_endpoint":    "https://accounts.example.com/api/token",
			"callback_endpoint": "http://localhost:36536/auth/callback/skill-gmail_mail",
			"scope":             "",
			"shell_integration": false,
			"_ovos_oauth":       true,
		},
	}
	if diff := cmp.Diff(readJSON(t, f.AppsFile()), want); diff != "" {
		t.Errorf("apps file mismatch (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(f.TokenFile()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(token file) = %v after PutApp alone, want it not to exist", err)
	}
}

func TestDeleteToken(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	a, b := testApp("skill", "a"), testApp("skill", "b")
	for _, app := range []*oauth.App{a, b} {
		if err := f.PutToken(app, testToken(app.AppID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteToken(a.MungedID()); err != nil {
		t.Fatalf("DeleteToken() error = %v", err)
	}
	got := readJSON(t, f.TokenFile())
	if _, ok := got["skill_a"]; ok {
		t.Errorf("token file still holds skill_a after DeleteToken: %v", got)
	}
	if _, ok := got["skill_b"]; !ok {
		t.Errorf("token file lost skill_b on DeleteToken(skill_a): %v", got)
	}

	before, err := os.ReadFile(f.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteToken("skill_missing"); err != nil {
		t.Fatalf("DeleteToken(missing) error = %v, want nil", err)
	}
	if after, _ := os.ReadFile(f.TokenFile()); !bytes.Equal(after, before) {
		t.Errorf("DeleteToken(missing) changed the file:\n%s\nwant\n%s", after, before)
	}
}

// Deleting from files that do not exist creates nothing.
func TestDeleteNothing(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	if err := f.DeleteToken("skill_a"); err != nil {
		t.Errorf("DeleteToken() error = %v", err)
	}
	if err := f.DeleteApp("skill_a"); err != nil {
		t.Errorf("DeleteApp() error = %v", err)
	}
	if _, err := os.Stat(f.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(Dir) = %v, want it not created", err)
	}
}

func TestDeleteAppRemovesBoth(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	a, b := testApp("skill", "a"), testApp("skill", "b")
	for _, app := range []*oauth.App{a, b} {
		if err := f.PutApp(app, redirectURI); err != nil {
			t.Fatal(err)
		}
		if err := f.PutToken(app, testToken(app.AppID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteApp(a.MungedID()); err != nil {
		t.Fatalf("DeleteApp() error = %v", err)
	}
	for _, path := range []string{f.AppsFile(), f.TokenFile()} {
		got := readJSON(t, path)
		if diff := cmp.Diff(keys(got), []string{"skill_b"}); diff != "" {
			t.Errorf("%s keys after DeleteApp(skill_a) mismatch (-got +want):\n%s", filepath.Base(path), diff)
		}
	}
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// foreignFile is what other programs keep in ovos_oauth.json, in the layout
// json_database writes, with what a careless rewrite would change: key order
// inside a value, number spellings, escapes, HTML characters, non-ASCII.
const foreignFile = `{
    "ocp_spotify": {
        "access_token": "spotify-access",
        "scope": "user-read <&> ünïcødé ♫ 🎵",
        "escaped": "caf\u00e9 \"quoted\"",
        "big": 12345678901234567890,
        "ratio": 1.50,
        "exp": 1e3,
        "z_first": {"b": 1, "a": [true, null, {}, []]}
    },
    "other_plugin": [1, "two", 3.0],
    "plain": "text"
}`

func TestForeignEntriesPreserved(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.TokenFile(), []byte(foreignFile), 0o600); err != nil {
		t.Fatal(err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal([]byte(foreignFile), &want); err != nil {
		t.Fatal(err)
	}

	a, b := testApp("skill", "a"), testApp("skill", "b")
	steps := []struct {
		name string
		do   func() error
	}{
		{"PutToken(a)", func() error { return f.PutToken(a, testToken("a")) }},
		{"PutToken(b)", func() error { return f.PutToken(b, testToken("b")) }},
		{"PutToken(a) again", func() error { return f.PutToken(a, testToken("a2")) }},
		{"DeleteToken(a)", func() error { return f.DeleteToken(a.MungedID()) }},
		{"DeleteApp(b)", func() error { return f.DeleteApp(b.MungedID()) }},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s error = %v", step.name, err)
		}
		data, err := os.ReadFile(f.TokenFile())
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("after %s the file is not a JSON object: %v\n%s", step.name, err, data)
		}
		for key, raw := range want {
			if diff := cmp.Diff(compact(t, got[key]), compact(t, raw)); diff != "" {
				t.Errorf("after %s, entry %q changed (-got +want):\n%s", step.name, key, diff)
			}
		}
		// Non-ASCII and HTML characters as they are, as ensure_ascii=False
		// writes them; indented as json_database indents.
		for _, s := range []string{"ünïcødé ♫ 🎵", "<&>", `caf\u00e9`, "{\n    \"ocp_spotify\": {\n        \""} {
			if !bytes.Contains(data, []byte(s)) {
				t.Errorf("after %s the file lacks %q:\n%s", step.name, s, data)
			}
		}
	}
	got := readJSON(t, f.TokenFile())
	if diff := cmp.Diff(keys(got), []string{"ocp_spotify", "other_plugin", "plain"}); diff != "" {
		t.Errorf("keys at the end mismatch (-got +want):\n%s", diff)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return "<missing>"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("Compact(%s) error = %v", raw, err)
	}
	return buf.String()
}

func TestNotAnObjectLeftUntouched(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
	}{
		{"array", `[{"skill_a": {}}]`},
		{"string", `"tokens"`},
		{"null", `null`},
		{"number", `42`},
		{"truncated", `{"ocp_spotify": {"access_token": "x"`},
		{"comment", "// written by hand\n{\"ocp_spotify\": {}}"},
		{"two values", `{} {}`},
		{"byte order mark", "\ufeff{}"},
	}
	app, tok := testApp("skill", "a"), testToken("a")
	secrets := []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), app.ClientSecret.Reveal()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFiles(t)
			if err := os.MkdirAll(f.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{f.TokenFile(), f.AppsFile()} {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			calls := []struct {
				name, path string
				do         func() error
			}{
				{"PutToken", f.TokenFile(), func() error { return f.PutToken(app, tok) }},
				{"DeleteToken", f.TokenFile(), func() error { return f.DeleteToken(app.MungedID()) }},
				{"PutApp", f.AppsFile(), func() error { return f.PutApp(app, redirectURI) }},
				{"DeleteApp", f.AppsFile(), func() error { return f.DeleteApp(app.MungedID()) }},
			}
			for _, c := range calls {
				err := c.do()
				if err == nil {
					t.Fatalf("%s() = nil on a file holding %q, want an error", c.name, tt.content)
				}
				if !strings.Contains(err.Error(), c.path) {
					t.Errorf("%s() error = %q, want it to name %s", c.name, err, c.path)
				}
				for _, s := range secrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("%s() error = %q, reveals a secret", c.name, err)
					}
				}
			}
			for _, path := range []string{f.TokenFile(), f.AppsFile()} {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != tt.content {
					t.Errorf("%s = %q, want it untouched: %q", filepath.Base(path), data, tt.content)
				}
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := info.Mode().Perm(); got != 0o644 {
					t.Errorf("%s mode = %v, want untouched 0644", filepath.Base(path), got)
				}
			}
			checkDirNames(t, f.Dir, "ovos_oauth.json", "ovos_oauth_apps.json")
		})
	}
}

// A zero-length file is what json_database leaves when killed while writing
// (it truncates in place); it holds nothing to keep.
func TestEmptyFileIsEmptyObject(t *testing.T) {
	t.Parallel()
	for _, content := range []string{"", " \n\t"} {
		f := newFiles(t)
		if err := os.MkdirAll(f.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.TokenFile(), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := f.PutToken(testApp("skill", "a"), testToken("a")); err != nil {
			t.Fatalf("PutToken() on a file holding %q error = %v", content, err)
		}
		if got := keys(readJSON(t, f.TokenFile())); !slices.Equal(got, []string{"skill_a"}) {
			t.Errorf("keys = %v, want [skill_a]", got)
		}
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	f := mirror.New(filepath.Join(root, "cache", "mycroft", "json_database"))
	f.LockDir = t.TempDir()
	app := testApp("skill", "a")
	if err := f.PutApp(app, redirectURI); err != nil {
		t.Fatal(err)
	}
	if err := f.PutToken(app, testToken("a")); err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{
		filepath.Join(root, "cache"):            0o700,
		filepath.Join(root, "cache", "mycroft"): 0o700,
		f.Dir:                                   0o700,
		f.TokenFile():                           0o600,
		f.AppsFile():                            0o600,
	}
	for path, want := range modes {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", path, got, want)
		}
	}
	checkDirNames(t, f.Dir, "ovos_oauth.json", "ovos_oauth_apps.json")
}

// A file another program created 0644 holds secrets once we write to it.
func TestExistingFileBecomes0600(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	writePython(t, f.TokenFile(), map[string]any{"ocp_spotify": map[string]any{"access_token": "x"}})
	if err := os.Chmod(f.TokenFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.PutToken(testApp("skill", "a"), testToken("a")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(f.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %v, want 0600", got)
	}
}

// Writers on two Files share a directory, as two daemons (or a daemon and a
// stale one) would: only the flock keeps them from losing each other's keys.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	one := newFiles(t)
	two := mirror.New(one.Dir)
	two.LockDir = one.LockDir

	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		f := one
		if i%2 == 1 {
			f = two
		}
		app := testApp("skill", fmt.Sprint("app", i))
		wg.Go(func() {
			if err := f.PutToken(app, testToken(app.AppID)); err != nil {
				t.Errorf("PutToken(%s) error = %v", app.MungedID(), err)
			}
			if err := f.PutApp(app, redirectURI); err != nil {
				t.Errorf("PutApp(%s) error = %v", app.MungedID(), err)
			}
		})
	}
	wg.Wait()

	var want []string
	for i := range n {
		want = append(want, fmt.Sprint("skill_app", i))
	}
	slices.Sort(want)
	for _, path := range []string{one.TokenFile(), one.AppsFile()} {
		if diff := cmp.Diff(keys(readJSON(t, path)), want); diff != "" {
			t.Errorf("%s keys mismatch (-got +want):\n%s", filepath.Base(path), diff)
		}
	}
	checkDirNames(t, one.Dir, "ovos_oauth.json", "ovos_oauth_apps.json")
}

func TestNoDir(t *testing.T) {
	t.Parallel()
	f := &mirror.Files{LockDir: t.TempDir()}
	if err := f.PutToken(testApp("skill", "a"), testToken("a")); err == nil {
		t.Error("PutToken() with no Dir = nil, want an error")
	}
}

func TestDefaultDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/var/cache/ovos", "HOME": "/home/ovos"}, "/var/cache/ovos/mycroft/json_database"},
		{"HOME", map[string]string{"HOME": "/home/ovos"}, "/home/ovos/.cache/mycroft/json_database"},
		{"relative XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "cache", "HOME": "/home/ovos"}, "/home/ovos/.cache/mycroft/json_database"},
		{"neither", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			if got := mirror.DefaultDir(getenv); got != tt.want {
				t.Errorf("DefaultDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	f := mirror.New("/home/ovos/.cache/mycroft/json_database")
	if got, want := f.TokenFile(), "/home/ovos/.cache/mycroft/json_database/ovos_oauth.json"; got != want {
		t.Errorf("TokenFile() = %q, want %q", got, want)
	}
	if got, want := f.AppsFile(), "/home/ovos/.cache/mycroft/json_database/ovos_oauth_apps.json"; got != want {
		t.Errorf("AppsFile() = %q, want %q", got, want)
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := mirror.New(dir)
	f.LockDir = t.TempDir()
	if rt, _, err := f.RefreshToken("skill_app"); err != nil || rt != "" {
		t.Fatalf("RefreshToken() with no file = %q, %v; want none", rt, err)
	}
	app := &oauth.App{SkillID: "skill", AppID: "app"}
	if err := f.PutToken(app, &oauth.Token{AccessToken: "a", RefreshToken: "ours"}); err != nil {
		t.Fatal(err)
	}
	if rt, _, err := f.RefreshToken("skill_app"); err != nil || rt != "ours" {
		t.Fatalf("RefreshToken() = %q, %v; want ours", rt, err)
	}
	// ovos_utils refreshed and wrote its own.
	data := `{"skill_app": {"access_token": "b", "refresh_token": "theirs", "expires_at": 1795897611.5}, "other": {"refresh_token": 5}}`
	if err := os.WriteFile(f.TokenFile(), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if rt, exp, err := f.RefreshToken("skill_app"); err != nil || rt != "theirs" || !exp.Equal(time.UnixMicro(1795897611500000)) {
		t.Fatalf("RefreshToken() = %q, %v, %v; want theirs expiring at 1795897611.5", rt, exp, err)
	}
	if rt, _, err := f.RefreshToken("other"); err != nil || rt != "" {
		t.Fatalf("RefreshToken() of a non-string = %q, %v; want none", rt, err)
	}
}

// FuzzMarked: Marked never panics, and on an entry that parses as a JSON
// object without escapes it agrees with a decoder: the entry's own
// "_ovos_oauth" key, the last of several, with a value other than false or
// null.
func FuzzMarked(f *testing.F) {
	for _, seed := range []string{
		`{"access_token": "a", "_ovos_oauth": true}`,
		`{"_ovos_oauth": false, "_ovos_oauth": true}`,
		`{"_ovos_oauth": null}`,
		`{"scope": "_ovos_oauth", "x": {"_ovos_oauth": true}}`,
		`{"_ovos_oauth": [1, {"a": "}"}], "b": 2}`,
		`{"_ovos_oauth"`,
		`{"_ovos_oauth": `,
		`{"a": 1,, "_ovos_oauth": true}`,
		` {"_ovos_oauth":0} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := mirror.Marked(raw)
		var entry map[string]json.RawMessage
		if bytes.IndexByte(raw, '\\') >= 0 || json.Unmarshal(raw, &entry) != nil || entry == nil {
			return
		}
		v, ok := entry[mirror.MarkKey]
		want := ok && !bytes.Equal(v, []byte("false")) && !bytes.Equal(v, []byte("null"))
		if got != want {
			t.Errorf("Marked(%q) = %v, want %v", raw, got, want)
		}
	})
}

// TestRefreshTokenOfAnotherDatabase: two daemons with databases of their
// own share one ovos_utils folder. The refresh token that one wrote there is
// never offered to the other: taking it as a newer one rotated in by
// ovos_utils, the other would refresh it, and the first would then end in
// invalid_grant. One that ovos_utils updated in place (the mark stays), or
// that another program wrote whole (no mark), is offered.
func TestRefreshTokenOfAnotherDatabase(t *testing.T) {
	t.Parallel()
	a := newFiles(t)
	a.Owner = "database-a"
	b := mirror.New(a.Dir)
	b.LockDir, b.Owner = a.LockDir, "database-b"
	app := testApp("skill", "app")
	if err := a.PutToken(app, &oauth.Token{AccessToken: "a", RefreshToken: "a's", Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	if rt, _, err := a.RefreshToken(app.MungedID()); err != nil || rt != "a's" {
		t.Errorf("a.RefreshToken() = %q, %v; want its own", rt, err)
	}
	if rt, _, err := b.RefreshToken(app.MungedID()); err != nil || rt != "" {
		t.Errorf("b.RefreshToken() = %q, %v; want none: it is a's", rt, err)
	}
	w := mirror.NewWriter(b, slog.New(slog.DiscardHandler))
	if rt, _, err := w.RefreshToken(app.MungedID()); err != nil || rt != "" {
		t.Errorf("b's Writer.RefreshToken() = %q, %v; want none: it is a's", rt, err)
	}

	rewrite := func(change func(entry map[string]any) map[string]any) {
		t.Helper()
		data, err := os.ReadFile(a.TokenFile())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m[app.MungedID()] = change(m[app.MungedID()])
		out, _ := json.Marshal(m)
		if err := os.WriteFile(a.TokenFile(), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// ovos_utils' refresh helper: token_data.update(new), the mark kept.
	rewrite(func(e map[string]any) map[string]any {
		e["refresh_token"] = "rotated by ovos_utils"
		return e
	})
	if rt, _, _ := a.RefreshToken(app.MungedID()); rt != "rotated by ovos_utils" {
		t.Errorf("a.RefreshToken() = %q after ovos_utils rotated it, want that one", rt)
	}
	if rt, _, _ := b.RefreshToken(app.MungedID()); rt != "" {
		t.Errorf("b.RefreshToken() = %q, want none: the entry is still a's", rt)
	}
	// A program that writes the entry whole, without the mark.
	rewrite(func(map[string]any) map[string]any {
		return map[string]any{"access_token": "x", "refresh_token": "spotipy's", "expires_at": 1767322800.0}
	})
	for name, f := range map[string]*mirror.Files{"a": a, "b": b} {
		if rt, _, _ := f.RefreshToken(app.MungedID()); rt != "spotipy's" {
			t.Errorf("%s.RefreshToken() = %q, want the one another program wrote", name, rt)
		}
	}
}
