package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// TestOVOSUtilsMirror: a Python skill reading ovos_utils' JSON files finds
// the token and the app there, next to what other programs wrote.
func TestOVOSUtilsMirror(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	dir := filepath.Join(s.d.home, ".cache", "mycroft", "json_database")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	foreign := `{"ocp_spotify": {"access_token": "spotify-token", "expires_at": 1.5}}`
	if err := os.WriteFile(filepath.Join(dir, "ovos_oauth.json"), []byte(foreign), 0o600); err != nil {
		t.Fatal(err)
	}
	s.register(t, "demoapp", "web", secret, nil)
	if status, _ := get(t, s.redirectFor(t, "demoapp")); status != 200 {
		t.Fatal("login failed")
	}
	bus := dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp"))

	// The mirror follows the reply, within its bound.
	tokens := waitJSON(t, filepath.Join(dir, "ovos_oauth.json"), func(m map[string]any) bool { return m[skillID+"_demoapp"] != nil })
	tok, _ := tokens[skillID+"_demoapp"].(map[string]any)
	if tok["access_token"] != bus["access_token"] || tok["refresh_token"] == nil || tok["token_type"] == nil {
		t.Errorf("mirrored token = %v", keys(tok))
	}
	if _, ok := tok["expires_at"].(float64); !ok {
		t.Errorf("expires_at = %#v, want a float", tok["expires_at"])
	}
	if sp, _ := tokens["ocp_spotify"].(map[string]any); sp["access_token"] != "spotify-token" {
		t.Errorf("another program's entry was lost: %v", tokens["ocp_spotify"])
	}
	apps := waitJSON(t, filepath.Join(dir, "ovos_oauth_apps.json"), func(m map[string]any) bool { return m[skillID+"_demoapp"] != nil })
	want := map[string]any{
		"oauth_service": skillID + "_demoapp", "client_id": "web", "client_secret": secret,
		"auth_endpoint": s.p.AuthEndpoint, "token_endpoint": s.p.TokenEndpoint,
		"callback_endpoint": s.d.baseURL + "/auth/callback/" + skillID + "_demoapp",
		"scope":             "openid offline_access", "shell_integration": true,
	}
	got, _ := apps[skillID+"_demoapp"].(map[string]any)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("apps[%s] = %v, want %v", k, got[k], v)
		}
	}
	for _, f := range []string{"ovos_oauth.json", "ovos_oauth_apps.json"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}

	// Another program dropped the file: the next registration, though it
	// changes nothing, writes the app back.
	if err := os.Remove(filepath.Join(dir, "ovos_oauth_apps.json")); err != nil {
		t.Fatal(err)
	}
	s.register(t, "demoapp", "web", secret, nil)
	waitJSON(t, filepath.Join(dir, "ovos_oauth_apps.json"), func(m map[string]any) bool { return m[skillID+"_demoapp"] != nil })

	// A refresh reaches the mirror; an unregister takes the app out.
	ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	waitJSON(t, filepath.Join(dir, "ovos_oauth.json"), func(m map[string]any) bool {
		got, _ := m[skillID+"_demoapp"].(map[string]any)
		return got["access_token"] == ref["token"].(map[string]any)["access_token"]
	})
	noErr(t, s.skill.request(t, "oauth.unregister", app("demoapp"), "oauth.unregister.response"))
	waitJSON(t, filepath.Join(dir, "ovos_oauth.json"), func(m map[string]any) bool { return m[skillID+"_demoapp"] == nil })
	waitJSON(t, filepath.Join(dir, "ovos_oauth_apps.json"), func(m map[string]any) bool { return m[skillID+"_demoapp"] == nil })
}

// waitJSON polls the file until ok accepts its content, and returns it.
func waitJSON(t *testing.T, path string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var m map[string]any
	polltest.UntilNil(t, func() error {
		b, err := os.ReadFile(path)
		if err == nil {
			m = nil
			if json.Unmarshal(b, &m) == nil && ok(m) {
				return nil
			}
		}
		return fmt.Errorf("%s did not reach the state wanted; it holds:\n%s", path, b)
	})
	return m
}

func TestOVOSUtilsMirrorOff(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir(), "--mirror-ovos-utils=false")
	sk := newSkill(t, busURL, skillID)
	noErr(t, sk.request(t, "oauth.register", map[string]any{"skill_id": skillID, "app_id": "x", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}, "oauth.register.response"))
	if _, err := os.Stat(filepath.Join(d.home, ".cache", "mycroft")); !os.IsNotExist(err) {
		t.Errorf("mirror written with mirror_ovos_utils false: %v", err)
	}
}
