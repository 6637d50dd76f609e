package migrate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// The plugin's records, as ovos_utils' OAuthApplicationDatabase and the
// plugin's token handler write them (json.dump, indent=4).
const (
	spotifyApp = `{
        "oauth_service": "skill-spotify.openvoiceos_spotify",
        "client_id": "spotify-client",
        "client_secret": "spotify-secret",
        "auth_endpoint": "https://accounts.spotify.com/authorize",
        "token_endpoint": "https://accounts.spotify.com/api/token",
        "callback_endpoint": "http://0.0.0.0:36536/auth/callback/skill-spotify.openvoiceos_spotify",
        "scope": "user-read-playback-state streaming",
        "shell_integration": true
    }`
	spotifyToken = `{
        "access_token": "spotify-access",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "spotify-refresh",
        "scope": "user-read-playback-state streaming",
        "expires_at": 1767322800.25
    }`
	haApp = `{
        "oauth_service": "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin",
        "client_id": "http://192.168.1.20:36536",
        "client_secret": null,
        "auth_endpoint": "http://homeassistant.local:8123/auth/authorize",
        "token_endpoint": "http://homeassistant.local:8123/auth/token",
        "callback_endpoint": "http://0.0.0.0:36536/auth/callback/ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin",
        "scope": null,
        "shell_integration": false
    }`
)

func entries(kv ...string) string {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("    \"" + kv[i] + "\": " + kv[i+1])
	}
	b.WriteString("\n}")
	return b.String()
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db := storetest.Open(t)
	return db
}

// pluginDir writes the plugin's files ("" leaves one out) and returns their
// directory, with a check, run at cleanup, that they are as written.
func pluginDir(t *testing.T, apps, tokens string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "json_database")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	type written struct {
		data  []byte
		mtime time.Time
	}
	files := map[string]written{}
	for name, content := range map[string]string{migrate.AppsFile: apps, migrate.TokensFile: tokens} {
		if content == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		files[name] = written{[]byte(content), old}
	}
	t.Cleanup(func() {
		for name, w := range files {
			p := filepath.Join(dir, name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("plugin file %s: %v", name, err)
				continue
			}
			if !bytes.Equal(data, w.data) {
				t.Errorf("plugin file %s changed:\n%s", name, data)
			}
			if fi, err := os.Stat(p); err == nil && !fi.ModTime().Equal(w.mtime) {
				t.Errorf("plugin file %s mtime = %v, want %v", name, fi.ModTime(), w.mtime)
			}
		}
		names, _ := os.ReadDir(dir)
		if len(names) != len(files) {
			t.Errorf("plugin directory holds %d files, want %d: something was written there", len(names), len(files))
		}
	})
	return dir
}

func TestImport(t *testing.T) {
	tests := []struct {
		name         string
		apps, tokens string
		imported     []migrate.Imported // Expiry ignored
		skipped      []migrate.Skipped  // Reason: a substring
	}{
		{
			name:   "apps and tokens",
			apps:   entries("skill-spotify.openvoiceos_spotify", spotifyApp, "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", haApp),
			tokens: entries("skill-spotify.openvoiceos_spotify", spotifyToken, "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", `{"access_token": "ha", "token_type": "Bearer", "expires_in": 1800, "expires_at": 1767322800.0, "refresh_token": "ha-refresh"}`),
			imported: []migrate.Imported{
				{MungedID: "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", SkillID: "ovos-PHAL-plugin-homeassistant", AppID: "homeassistant-phal-plugin", Token: true},
				{MungedID: "skill-spotify.openvoiceos_spotify", SkillID: "skill-spotify.openvoiceos", AppID: "spotify", Token: true},
			},
		},
		{
			name:     "app without a token",
			apps:     entries("skill-spotify.openvoiceos_spotify", spotifyApp),
			imported: []migrate.Imported{{MungedID: "skill-spotify.openvoiceos_spotify", SkillID: "skill-spotify.openvoiceos", AppID: "spotify"}},
		},
		{
			name:     "token without an app",
			apps:     entries("skill-spotify.openvoiceos_spotify", spotifyApp),
			tokens:   entries("skill-gone.someone_app", spotifyToken),
			imported: []migrate.Imported{{MungedID: "skill-spotify.openvoiceos_spotify", SkillID: "skill-spotify.openvoiceos", AppID: "spotify"}},
			skipped:  []migrate.Skipped{{File: migrate.TokensFile, Name: "skill-gone.someone_app", Reason: "no app"}},
		},
		{
			name:    "malformed apps file",
			apps:    `{"skill-spotify.openvoiceos_spotify": {`,
			tokens:  entries("skill-spotify.openvoiceos_spotify", spotifyToken),
			skipped: []migrate.Skipped{{File: migrate.AppsFile, Reason: "not a JSON object"}, {File: migrate.TokensFile, Name: "skill-spotify.openvoiceos_spotify", Reason: "no app"}},
		},
		{
			name:     "malformed tokens file",
			apps:     entries("skill-spotify.openvoiceos_spotify", spotifyApp),
			tokens:   `[1, 2]`,
			imported: []migrate.Imported{{MungedID: "skill-spotify.openvoiceos_spotify", SkillID: "skill-spotify.openvoiceos", AppID: "spotify"}},
			skipped:  []migrate.Skipped{{File: migrate.TokensFile, Reason: "not a JSON object"}},
		},
		{
			name: "wrong types",
			apps: entries(
				"a.b_ok", spotifyApp,
				"a.b_secret", `{"client_id": "x", "client_secret": 42, "auth_endpoint": "https://p/a", "token_endpoint": "https://p/t", "shell_integration": "yes"}`,
				"a.b_list", `["not", "an", "object"]`,
			),
			tokens: entries(
				"a.b_ok", `{"access_token": "t", "expires_at": "tomorrow"}`,
			),
			imported: []migrate.Imported{{MungedID: "a.b_ok", SkillID: "a.b", AppID: "ok"}},
			skipped: []migrate.Skipped{
				{File: migrate.AppsFile, Name: "a.b_list", Reason: "not a JSON object"},
				{File: migrate.TokensFile, Name: "a.b_ok", Reason: "expires_at is not a number"},
				{File: migrate.AppsFile, Name: "a.b_secret", Reason: "client_secret is not a string; shell_integration is not true or false"},
			},
		},
		{
			name:     "token without an access token",
			apps:     entries("a.b_c", spotifyApp),
			tokens:   entries("a.b_c", `{"refresh_token": "r"}`),
			imported: []migrate.Imported{{MungedID: "a.b_c", SkillID: "a.b", AppID: "c"}},
			skipped:  []migrate.Skipped{{File: migrate.TokensFile, Name: "a.b_c", Reason: "access_token is missing"}},
		},
		{
			name:   "invalid munged ids",
			apps:   entries("nounderscore", spotifyApp, "../../etc_passwd", spotifyApp, "skill id_app", spotifyApp),
			tokens: entries("nounderscore", spotifyToken),
			skipped: []migrate.Skipped{
				{File: migrate.AppsFile, Name: "../../etc_passwd", Reason: "not a valid munged id"},
				{File: migrate.AppsFile, Name: "nounderscore", Reason: "not a valid munged id"},
				{File: migrate.AppsFile, Name: "skill id_app", Reason: "not a valid munged id"},
				{File: migrate.TokensFile, Name: "nounderscore", Reason: "its app in ovos_oauth_apps.json was skipped"},
			},
		},
		{
			name: "missing endpoints",
			apps: entries(
				"a.b_noauth", `{"client_id": "x", "token_endpoint": "https://p/t"}`,
				"a.b_notoken", `{"client_id": "x", "auth_endpoint": "https://p/a", "token_endpoint": null}`,
				"a.b_relative", `{"client_id": "x", "auth_endpoint": "/authorize", "token_endpoint": "https://p/t"}`,
			),
			tokens: entries("a.b_noauth", spotifyToken),
			skipped: []migrate.Skipped{
				{File: migrate.AppsFile, Name: "a.b_noauth", Reason: "auth_endpoint is missing"},
				{File: migrate.AppsFile, Name: "a.b_notoken", Reason: "token_endpoint is missing"},
				{File: migrate.AppsFile, Name: "a.b_relative", Reason: "auth_endpoint is not an http or https URL"},
				{File: migrate.TokensFile, Name: "a.b_noauth", Reason: "its app in ovos_oauth_apps.json was skipped"},
			},
		},
		{
			name:     "underscores in the ids",
			apps:     entries("skill_x.me_my_app", spotifyApp),
			imported: []migrate.Imported{{MungedID: "skill_x.me_my_app", SkillID: "skill", AppID: "x.me_my_app", Guessed: true}},
		},
		{name: "no files"},
		{name: "empty files", apps: "\n", tokens: "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openStore(t)
			dir := pluginDir(t, tt.apps, tt.tokens)
			rep, err := migrate.Import(db, dir, now)
			if err != nil {
				t.Fatalf("Import() error = %v", err)
			}
			if diff := cmp.Diff(rep.Imported, tt.imported, cmpopts.IgnoreFields(migrate.Imported{}, "Expiry"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Import() imported (-got +want):\n%s", diff)
			}
			substr := cmp.Comparer(func(got, want migrate.Skipped) bool {
				return got.File == want.File && got.Name == want.Name && strings.Contains(got.Reason, want.Reason) ||
					want.File == got.File && want.Name == got.Name && strings.Contains(want.Reason, got.Reason)
			})
			if diff := cmp.Diff(rep.Skipped, tt.skipped, substr, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Import() skipped (-got +want):\n%s", diff)
			}
			if len(rep.Kept) != 0 {
				t.Errorf("Import() kept = %v, want none", rep.Kept)
			}
			apps, err := db.Apps()
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) != len(tt.imported) {
				t.Errorf("store holds %d apps, want %d", len(apps), len(tt.imported))
			}
			for _, imp := range tt.imported {
				_, err := db.Token(imp.MungedID)
				if got := err == nil; got != imp.Token {
					t.Errorf("store has a token for %s: %v, want %v (err %v)", imp.MungedID, got, imp.Token, err)
				}
			}
		})
	}
}

// TestImportRecords checks what an app and a token become.
func TestImportRecords(t *testing.T) {
	db := openStore(t)
	dir := pluginDir(t,
		entries("skill-spotify.openvoiceos_spotify", spotifyApp, "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", haApp),
		entries("skill-spotify.openvoiceos_spotify", spotifyToken, "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", `{"access_token": "ha", "expires_at": 1767322800}`))
	if _, err := migrate.Import(db, dir, now); err != nil {
		t.Fatalf("Import() error = %v", err)
	}

	app, err := db.App("skill-spotify.openvoiceos_spotify")
	if err != nil {
		t.Fatal(err)
	}
	want := &oauth.App{
		SkillID:          "skill-spotify.openvoiceos",
		AppID:            "spotify",
		ClientID:         "spotify-client",
		ClientSecret:     "spotify-secret",
		AuthEndpoint:     "https://accounts.spotify.com/authorize",
		TokenEndpoint:    "https://accounts.spotify.com/api/token",
		Scope:            "user-read-playback-state streaming",
		ShellIntegration: true,
		PKCE:             true,
		CredsFromUser:    true,
		Created:          now,
		Updated:          now,
	}
	if diff := cmp.Diff(app, want); diff != "" {
		t.Errorf("App(spotify) (-got +want):\n%s", diff)
	}
	tok, err := db.Token("skill-spotify.openvoiceos_spotify")
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Unix(1767322800, 250_000_000)
	wantTok := &oauth.Token{
		AccessToken:  "spotify-access",
		TokenType:    "Bearer",
		RefreshToken: "spotify-refresh",
		Expiry:       expiry,
		Scope:        "user-read-playback-state streaming",
		Raw: map[string]any{
			"token_type": "Bearer", "expires_in": 3600.0, "scope": "user-read-playback-state streaming", "expires_at": 1767322800.25,
		},
		Obtained: expiry.Add(-time.Hour),
	}
	if diff := cmp.Diff(tok, wantTok, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("Token(spotify) (-got +want):\n%s", diff)
	}

	ha, err := db.App("ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin")
	if err != nil {
		t.Fatal(err)
	}
	if ha.ClientSecret != "" || ha.Scope != "" || ha.ShellIntegration || ha.ClientID != "http://192.168.1.20:36536" {
		t.Errorf("App(homeassistant) = %+v, want no secret, no scope, no shell integration, its client id", ha)
	}
	haTok, err := db.Token(ha.MungedID())
	if err != nil {
		t.Fatal(err)
	}
	// No expires_in, and expired before the import: issued no later than
	// it expired.
	haExpiry := time.Unix(1767322800, 0)
	if !haTok.Expiry.Equal(haExpiry) || !haTok.Obtained.Equal(haExpiry) || haTok.RefreshToken != "" {
		t.Errorf("Token(homeassistant) expiry %v, obtained %v, refreshable %v; want %v, %v, false",
			haTok.Expiry, haTok.Obtained, haTok.RefreshToken != "", haExpiry, haExpiry)
	}
}

// TestImportKeepsExisting: an app the store has is kept as it is, with its
// token, and one it lacks is added.
func TestImportKeepsExisting(t *testing.T) {
	db := openStore(t)
	mine := &oauth.App{SkillID: "skill-spotify.openvoiceos", AppID: "spotify", ClientID: "mine",
		AuthEndpoint: "https://example.com/a", TokenEndpoint: "https://example.com/t", Created: now, Updated: now}
	if err := db.PutApp(mine, false); err != nil {
		t.Fatal(err)
	}
	myToken := &oauth.Token{AccessToken: "my-access", RefreshToken: "my-refresh", Obtained: now}
	if err := db.PutToken(mine.MungedID(), myToken); err != nil {
		t.Fatal(err)
	}
	dir := pluginDir(t,
		entries("skill-spotify.openvoiceos_spotify", spotifyApp, "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin", haApp),
		entries("skill-spotify.openvoiceos_spotify", spotifyToken))

	rep, err := migrate.Import(db, dir, now)
	if err != nil {
		t.Fatalf("Import() error = %v", err)
	}
	if diff := cmp.Diff(rep.Kept, []string{"skill-spotify.openvoiceos_spotify"}); diff != "" {
		t.Errorf("Import() kept (-got +want):\n%s", diff)
	}
	if len(rep.Imported) != 1 || rep.Imported[0].MungedID != "ovos-PHAL-plugin-homeassistant_homeassistant-phal-plugin" {
		t.Errorf("Import() imported = %+v, want the homeassistant app alone", rep.Imported)
	}
	app, _ := db.App(mine.MungedID())
	if diff := cmp.Diff(app, mine); diff != "" {
		t.Errorf("existing app changed (-got +want):\n%s", diff)
	}
	tok, _ := db.Token(mine.MungedID())
	if diff := cmp.Diff(tok, myToken); diff != "" {
		t.Errorf("existing token changed (-got +want):\n%s", diff)
	}
}

// TestImportMirror: what the daemon's own ovos_utils mirror writes is not
// imported; once the plugin has written it again (whole, without the mark),
// it reads back as the same app and token, so the two agree on names and on
// expires_at.
func TestImportMirror(t *testing.T) {
	dir := t.TempDir()
	files := mirror.New(dir)
	files.LockDir = t.TempDir()
	app := &oauth.App{SkillID: "skill-x.me", AppID: "cal", ClientID: "cid", ClientSecret: "csecret",
		AuthEndpoint: "https://p.example/a", TokenEndpoint: "https://p.example/t", Scope: "read write", ShellIntegration: true}
	expiry := time.Date(2026, 1, 2, 4, 4, 5, 123456000, time.UTC)
	tok := &oauth.Token{AccessToken: "acc", RefreshToken: "ref", TokenType: "Bearer", Scope: "read write",
		Expiry: expiry, Obtained: expiry.Add(-time.Hour), Raw: map[string]any{"id_token": "x"}}
	if err := files.PutApp(app, "http://192.168.1.2:36536/auth/callback/skill-x.me_cal"); err != nil {
		t.Fatal(err)
	}
	if err := files.PutToken(app, tok); err != nil {
		t.Fatal(err)
	}

	db := openStore(t)
	rep, err := migrate.Import(db, dir, now)
	if err != nil || len(rep.Imported) != 0 || len(rep.Skipped) != 0 || !slices.Equal(rep.Mirrored, []string{app.MungedID()}) {
		t.Fatalf("Import(the mirror) = %+v, %v; want nothing imported, %s mirrored", rep, err, app.MungedID())
	}

	// The plugin writes both entries again, whole: what it read, without
	// the mark it does not know.
	for _, name := range []string{migrate.AppsFile, migrate.TokensFile} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		delete(m[app.MungedID()], mirror.MarkKey)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = migrate.Import(db, dir, now)
	if err != nil || len(rep.Imported) != 1 || len(rep.Skipped) != 0 || len(rep.Mirrored) != 0 {
		t.Fatalf("Import() = %+v, %v; want one app imported", rep, err)
	}
	got, _ := db.App(app.MungedID())
	if got.ClientID != app.ClientID || got.ClientSecret != app.ClientSecret || got.AuthEndpoint != app.AuthEndpoint ||
		got.TokenEndpoint != app.TokenEndpoint || got.Scope != app.Scope || got.ShellIntegration != app.ShellIntegration {
		t.Errorf("App() = %+v, want the fields of %+v", got, app)
	}
	gotTok, _ := db.Token(app.MungedID())
	if gotTok.AccessToken != tok.AccessToken || gotTok.RefreshToken != tok.RefreshToken || gotTok.TokenType != tok.TokenType ||
		!gotTok.Expiry.Equal(expiry) || !gotTok.Obtained.Equal(tok.Obtained) || gotTok.Raw["id_token"] != "x" {
		t.Errorf("Token() = expiry %v obtained %v raw %v, want expiry %v obtained %v and the rest as written",
			gotTok.Expiry, gotTok.Obtained, gotTok.Raw, expiry, tok.Obtained)
	}
	if _, ok := gotTok.Raw[mirror.MarkKey]; ok {
		t.Errorf("Token().Raw holds the mark: %v", gotTok.Raw)
	}
}

// TestImportUnreadable: a file that cannot be read at all (here a
// directory, which even root cannot read as a file) fails the import,
// unlike one that is not JSON.
func TestImportUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, migrate.AppsFile), 0o700); err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	if _, err := migrate.Import(db, dir, now); err == nil {
		t.Error("Import(unreadable apps file) error = nil, want one")
	}
	if apps, _ := db.Apps(); len(apps) != 0 {
		t.Errorf("store holds %d apps after a failed import, want 0", len(apps))
	}
}

// TestImportSkipsOvosOauthEntries: entries ovos-oauth's mirror wrote are the
// mirror of a store, this daemon's or another's, and are never imported, so
// that two stores never refresh one login; the plugin's entries beside them
// are. An app is ovos-oauth's when either of its entries is: a program that
// rewrites one of them whole (the plugin, a Spotify plugin saving its
// refreshed token) drops the mark from that one only. A program that
// updates an entry in place, as ovos_utils' refresh helper does
// (token_data.update), keeps the mark: the entry stays ovos-oauth's.
func TestImportSkipsOvosOauthEntries(t *testing.T) {
	dir := t.TempDir()
	files := mirror.New(dir)
	files.LockDir = t.TempDir()
	mirrored := func(appID string) *oauth.App {
		app := &oauth.App{SkillID: "skill-x.me", AppID: appID, ClientID: "cid", ClientSecret: "csecret",
			AuthEndpoint: "https://p.example/a", TokenEndpoint: "https://p.example/t"}
		tok := &oauth.Token{AccessToken: oauth.Secret("acc-" + appID), RefreshToken: oauth.Secret("ref-" + appID), Expiry: now.Add(time.Hour), Obtained: now}
		if err := files.PutApp(app, "http://192.168.1.2:36536/auth/callback/"+app.MungedID()); err != nil {
			t.Fatal(err)
		}
		if err := files.PutToken(app, tok); err != nil {
			t.Fatal(err)
		}
		return app
	}
	mirrored("both")             // app and token as ovos-oauth wrote them
	appOnly := mirrored("token") // its token rewritten whole by another program
	tokenOnly := mirrored("app") // its app rewritten whole by the plugin
	mirrored("updated")          // its token updated in place by ovos_utils
	if err := files.PutToken(&oauth.App{SkillID: "skill-gone.me", AppID: "x"}, &oauth.Token{AccessToken: "a"}); err != nil {
		t.Fatal(err) // a token of ovos-oauth's without its app
	}
	edit := func(name string, change func(map[string]json.RawMessage)) {
		t.Helper()
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		out, _ := json.Marshal(m)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit(migrate.TokensFile, func(m map[string]json.RawMessage) {
		m[appOnly.MungedID()] = json.RawMessage(`{"access_token": "spotipy", "refresh_token": "r", "expires_at": 1767322800.0}`)
		var tok map[string]any
		json.Unmarshal(m["skill-x.me_updated"], &tok)
		tok["access_token"], tok["expires_at"] = "refreshed-by-ovos-utils", 1767322900.0
		m["skill-x.me_updated"], _ = json.Marshal(tok)
		m["skill-spotify.openvoiceos_spotify"] = json.RawMessage(spotifyToken)
	})
	edit(migrate.AppsFile, func(m map[string]json.RawMessage) {
		m[tokenOnly.MungedID()] = json.RawMessage(haApp)
		m["skill-spotify.openvoiceos_spotify"] = json.RawMessage(spotifyApp)
	})

	db := openStore(t)
	rep, err := migrate.Import(db, dir, now)
	if err != nil {
		t.Fatalf("Import() error = %v", err)
	}
	apps, err := db.Apps()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.MungedID())
	}
	if diff := cmp.Diff(got, []string{"skill-spotify.openvoiceos_spotify"}); diff != "" {
		t.Errorf("store apps after the import (-got +want):\n%s", diff)
	}
	if tok, err := db.Token("skill-spotify.openvoiceos_spotify"); err != nil || tok.RefreshToken != "spotify-refresh" {
		t.Errorf("the plugin's token = %v, %v; want it imported", tok, err)
	}
	if len(rep.Skipped) != 0 {
		t.Errorf("Import() skipped = %+v, want none: ovos-oauth's entries are no error", rep.Skipped)
	}
	want := []string{"skill-gone.me_x", "skill-x.me_app", "skill-x.me_both", "skill-x.me_token", "skill-x.me_updated"}
	if diff := cmp.Diff(rep.Mirrored, want); diff != "" {
		t.Errorf("Import() mirrored (-got +want):\n%s", diff)
	}
}

// TestMarked: the mark is a key of the entry with a value other than false
// or null, not the text anywhere in it.
func TestMarked(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"access_token": "a", "_ovos_oauth": true}`: true,
		`{"_ovos_oauth":"store-1"}`:                  true,
		`{"_ovos_oauth": false}`:                     false,
		`{"_ovos_oauth": null}`:                      false,
		`{"scope": "_ovos_oauth"}`:                   false,
		`{"scope": "\"_ovos_oauth\": true"}`:         false,
		`{"nested": {"_ovos_oauth": true}}`:          false,
		`{"access_token": "a"}`:                      false,
		`["_ovos_oauth"]`:                            false,
		`{"_ovos_oauth": true`:                       false,
	} {
		if got := mirror.Marked(json.RawMessage(raw)); got != want {
			t.Errorf("Marked(%s) = %v, want %v", raw, got, want)
		}
	}
}

// TestImportAbsurdLifetimes: a plugin file's expires_in and expires_at are
// numbers anyone could have written; none may overflow into a token that
// looks issued or expired centuries away (an always-due token is refreshed
// without end).
func TestImportAbsurdLifetimes(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]string{
		"huge expires_in":  `{"access_token": "a", "refresh_token": "r", "expires_at": 1767322800, "expires_in": 1e30}`,
		"int64 expires_in": `{"access_token": "a", "refresh_token": "r", "expires_at": 1767322800, "expires_in": 9223372037}`,
		"huge expires_at":  `{"access_token": "a", "refresh_token": "r", "expires_at": 1e30, "expires_in": 3600}`,
		"far expires_at":   `{"access_token": "a", "refresh_token": "r", "expires_at": 9.3e15, "expires_in": 3600}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := openStore(t)
			dir := pluginDir(t, entries("skill_app", spotifyApp), entries("skill_app", tc))
			if _, err := migrate.Import(db, dir, now); err != nil {
				t.Fatalf("Import() error = %v", err)
			}
			tok, err := db.Token("skill_app")
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := now.AddDate(-2, 0, 0), now.AddDate(2, 0, 0)
			if tok.Expiry.Before(lo) || tok.Expiry.After(hi) {
				t.Errorf("Expiry = %v, want within two years of %v", tok.Expiry, now)
			}
			if tok.Obtained.Before(lo) || tok.Obtained.After(tok.Expiry) {
				t.Errorf("Obtained = %v, want within two years of %v and not after Expiry %v", tok.Obtained, now, tok.Expiry)
			}
		})
	}
}

// TestSkippedProblems: why an entry or a file was skipped is given as
// codes too, with the field they are about, for the CLI to word in the
// user's language.
func TestSkippedProblems(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t, `{"a.b_secret": {"client_secret": 1, "shell_integration": "yes", "auth_endpoint": "https://x.invalid/a", "token_endpoint": "https://x.invalid/t"},
		"a.b_rel": {"auth_endpoint": "/a", "token_endpoint": "https://x.invalid/t"}, "bad": {}}`,
		`{"a.b_none": {"access_token": "t"}, "a.b_rel": {"access_token": "t"}}`)
	rep, err := migrate.Import(openStore(t), dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []migrate.Skipped{
		{File: migrate.AppsFile, Name: "a.b_rel", Problems: []migrate.Problem{{Reason: migrate.SkipNotURL, Field: "auth_endpoint"}}},
		{File: migrate.AppsFile, Name: "a.b_secret", Problems: []migrate.Problem{{Reason: migrate.SkipNotString, Field: "client_secret"}, {Reason: migrate.SkipNotBool, Field: "shell_integration"}}},
		{File: migrate.AppsFile, Name: "bad", Problems: []migrate.Problem{{Reason: migrate.SkipBadID}}},
		{File: migrate.TokensFile, Name: "a.b_none", Problems: []migrate.Problem{{Reason: migrate.SkipNoApp}}},
		{File: migrate.TokensFile, Name: "a.b_rel", Problems: []migrate.Problem{{Reason: migrate.SkipAppSkipped}}},
	}
	if diff := cmp.Diff(rep.Skipped, want, cmpopts.IgnoreFields(migrate.Skipped{}, "Reason")); diff != "" {
		t.Errorf("Import() skipped (-got +want):\n%s", diff)
	}

	rep, err = migrate.Import(openStore(t), pluginDir(t, `[1`, `{}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 1 || !slices.Equal(rep.Skipped[0].Problems, []migrate.Problem{{Reason: migrate.SkipFileNotObject}}) {
		t.Errorf("Import() of a torn file skipped %+v, want the file, file_not_object", rep.Skipped)
	}
}
