package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// TestSecretsSealedAtRest: after a real login the database holds neither the
// client secret nor the tokens; a wrong or missing key file stops start-up
// with a message saying what to do and changes nothing; the right one serves
// the token again.
func TestSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	d := startDaemon(t, busURL, dataDir)
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demoapp"}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "demoapp", "web", secret, nil)
	authURL := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)
	if resp, body := p.Login(t, authURL); resp.StatusCode != 200 {
		t.Fatalf("callback page: status %d, body %q", resp.StatusCode, body)
	}
	access := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")))
	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Read after the stop: the mirror is written behind the reply, and
	// flushed on shutdown.
	refresh := mirroredRefreshToken(t, d.home)

	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	keyFile := filepath.Join(dataDir, "secrets.key")
	db, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"client secret": secret, "access token": access, "refresh token": refresh} {
		if bytes.Contains(db, []byte(v)) {
			t.Errorf("%s holds the %s in the clear", dbPath, name)
		}
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	wantDB := string(db)

	t.Run("wrong key", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "wrong.key")
		if err := os.WriteFile(wrong, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		logs, err := runFailing(t, dataDir, "--secrets-key-file", wrong)
		for _, w := range []string{dbPath, wrong, "another key", "restore the key file"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("run() = %q, want it to mention %q", err, w)
			}
		}
		checkNoKey(t, err.Error()+logs, key)
	})
	t.Run("missing key file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "ovos-oauth.key")
		logs, err := runFailing(t, dataDir, "--secrets-key-file", missing)
		for _, w := range []string{dbPath, missing, "does not exist", "restore the key file from your backup"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("run() = %q, want it to mention %q", err, w)
			}
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a new key file was made for a sealed store (Stat = %v)", err)
		}
		checkNoKey(t, err.Error()+logs, key)
	})
	if got, _ := os.ReadFile(dbPath); string(got) != wantDB {
		t.Error("the failed start-ups changed the database")
	}

	d2 := startDaemon(t, busURL, dataDir)
	s.skill.Expect(t, "oauth.ping")
	got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
	if got["access_token"] != access {
		t.Errorf("after restart with the right key oauth.token.get gave another token than the one stored")
	}
	checkNoKey(t, d2.logs.String(), key)
}

// runFailing runs the daemon as startDaemon does and returns its output and
// the error with which start-up fails; it fails the test if the daemon
// starts.
func runFailing(t *testing.T, dataDir string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"serve",
		"--listen", "127.0.0.1:0",
		"--public-host", "127.0.0.1",
		"--data-dir", dataDir,
		"--bus-url", "ws://127.0.0.1:1/core",
		"--log-format", "json",
		"--log-level", "debug",
	}, extra...)
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent", "XDG_CONFIG_DIRS": t.TempDir()}
	// Should it start after all, the deadline stops it and run returns nil.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	if err == nil {
		t.Fatalf("run(%q) = nil, want a start-up error; logs:\n%s", extra, &stderr)
	}
	return stdout.String() + stderr.String(), err
}

// checkNoKey fails if out shows the key file's content.
func checkNoKey(t *testing.T, out string, key []byte) {
	t.Helper()
	if k := strings.TrimSpace(string(key)); len(k) < 32 || strings.Contains(out, k) || strings.Contains(out, k[:16]) {
		t.Errorf("output shows the key (or the key file is too short to check): %q", out)
	}
}

// mirroredRefreshToken is the refresh token the provider issued, which only
// the ovos_utils mirror shows.
func mirroredRefreshToken(t *testing.T, home string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, ".cache", "mycroft", "json_database", "ovos_oauth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var toks map[string]struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(data, &toks); err != nil {
		t.Fatal(err)
	}
	rt := toks[skillID+"_demoapp"].RefreshToken
	if len(rt) < 16 {
		t.Fatalf("mirrored refresh token %q: want the provider's", rt)
	}
	return rt
}

// TestKeyFileOpenToOthers: a key file other users could read stops
// start-up with a message that says how to fix it, for a store already
// sealed with it and for a new one; once fixed the daemon starts.
func TestKeyFileOpenToOthers(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	d := startDaemon(t, busURL, dataDir)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dataDir, "secrets.key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(t.TempDir(), "ovos-oauth.key")
	if err := os.WriteFile(newKey, key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dataDir, keyFile string
		mode                   os.FileMode
	}{
		{"sealed store, world-readable", dataDir, keyFile, 0o644},
		{"sealed store, group-readable", dataDir, keyFile, 0o640},
		{"new store", t.TempDir(), newKey, 0o604},
	} {
		if err := os.Chmod(c.keyFile, c.mode); err != nil {
			t.Fatal(err)
		}
		out, err := runFailing(t, c.dataDir, "--secrets-key-file", c.keyFile)
		for _, want := range []string{c.keyFile, fmt.Sprintf("(mode %04o)", c.mode), "readable only by its owner", "chmod 600 " + c.keyFile} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: run() = %q, want it to say %q", c.name, err, want)
			}
		}
		if strings.Contains(err.Error(), "make it readable") {
			t.Errorf("%s: run() = %q, which says to make a readable file readable", c.name, err)
		}
		checkNoKey(t, err.Error()+out, key)
		if err := os.Chmod(c.keyFile, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	startDaemon(t, busURL, dataDir)
}
