package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// TestTokensKeepWorkingAcrossRotationsAndRestart: with two-second access
// tokens and a new refresh token on every refresh, the refreshes a skill
// asks for rotate the refresh token, a skill asking for a token that
// expired gets a fresh one at once (the 30 s between scheduled refreshes
// does not hold it back), a restart in between loses nothing, and no
// refresh token is presented twice.
func TestTokensKeepWorkingAcrossRotationsAndRestart(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	d := startDaemon(t, busURL, dataDir)
	p := oauthtest.StartWith(t, oauthtest.Options{AccessTokenLifetime: 2 * time.Second},
		oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demoapp"}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "demoapp", "web", secret, nil)
	authURL := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)
	p.Login(t, authURL)
	seen := map[string]bool{s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp"))): true}
	fresh := func(at string) {
		t.Helper()
		if seen[at] {
			t.Fatalf("a refresh handed out an access token seen before")
		}
		seen[at] = true
	}
	refreshed := func(n int) {
		t.Helper()
		for range n {
			rep := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
			at := s.checkToken(t, rep["token"].(map[string]any))
			if ev := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.refreshed."+skillID+"_demoapp"))); ev != at {
				t.Errorf("oauth.token.refreshed carries another token than the reply")
			}
			fresh(at)
		}
	}
	// A token past half its life is refreshed when a skill asks for it.
	expiredGet := func() {
		t.Helper()
		var at string
		polltest.Until(t, "oauth.token.get to hand out a refreshed token", func() bool {
			got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
			at, _ = got["access_token"].(string)
			return !seen[at]
		})
		fresh(at)
		if ev := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.refreshed."+skillID+"_demoapp"))); ev != at {
			t.Errorf("oauth.token.refreshed carries another token than oauth.token.get")
		}
	}
	refreshed(3)
	expiredGet()

	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, busURL, dataDir)
	refreshed(2)
	expiredGet()

	got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
	if at, _ := got["access_token"].(string); p.Userinfo(t, at) != http.StatusOK {
		t.Errorf("oauth.token.get gave a token the provider refuses")
	}
	total, reused := p.Refreshes()
	if total < 7 || reused != 0 {
		t.Errorf("provider saw %d refreshes, %d refresh tokens presented twice; want ≥7 and none reused", total, reused)
	}
}

// TestRevokeUnregisterStatus covers the lifecycle requests ovos-oauth adds.
func TestRevokeUnregisterStatus(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "a", "b")
	s.register(t, "a", "web", secret, map[string]any{"revocation_endpoint": s.p.RevocationEndpoint})
	s.register(t, "b", "web", secret, nil)
	if status, _ := get(t, s.redirectFor(t, "a")); status != 200 {
		t.Fatal("login a")
	}
	at := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_a")))
	if status, _ := get(t, s.redirectFor(t, "b")); status != 200 {
		t.Fatal("login b")
	}
	s.skill.Expect(t, "oauth.token.response."+skillID+"_b")
	noErr(t, s.skill.request(t, "oauth.get", app("b"), "oauth.url")) // a pending login for b

	st := noErr(t, s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	apps, _ := st["apps"].([]any)
	if len(apps) != 2 {
		t.Fatalf("status apps = %v", st)
	}
	for _, a := range apps {
		m := a.(map[string]any)
		for _, k := range []string{"munged_id", "skill_id", "app_id", "needs_creds", "authorized", "expires_at", "needs_reauth", "flow"} {
			if _, ok := m[k]; !ok {
				t.Errorf("status entry lacks %q: %v", k, m)
			}
		}
		if m["authorized"] != true {
			t.Errorf("%v not authorized", m["app_id"])
		}
		if _, ok := m["expires_at"].(float64); !ok {
			t.Errorf("expires_at = %#v", m["expires_at"])
		}
		if want := map[string]any{"a": nil, "b": "code"}[m["app_id"].(string)]; m["flow"] != want {
			t.Errorf("%v flow = %v, want %v", m["app_id"], m["flow"], want)
		}
	}
	if raw := st; strings.Contains(mustJSON(t, raw), secret) || strings.Contains(mustJSON(t, raw), at) {
		t.Errorf("status carries a secret or a token")
	}
	one := noErr(t, s.skill.request(t, "oauth.status", map[string]any{"skill_id": "other.skill"}, "oauth.status.response"))
	if l, _ := one["apps"].([]any); len(l) != 0 {
		t.Errorf("status for another skill = %v", one)
	}

	rev := noErr(t, s.skill.request(t, "oauth.revoke", app("a"), "oauth.revoke.response"))
	if rev["revoked"] != true {
		t.Fatalf("revoke = %v", rev)
	}
	if code := s.p.Userinfo(t, at); code == http.StatusOK {
		t.Errorf("the revoked access token still works at the provider")
	}
	wantErr(t, s.skill.request(t, "oauth.token.get", app("a"), "oauth.token.get.response"), "not_authorized")
	again := noErr(t, s.skill.request(t, "oauth.revoke", app("a"), "oauth.revoke.response"))
	if again["revoked"] != false {
		t.Errorf("second revoke = %v, want revoked false", again)
	}

	un := noErr(t, s.skill.request(t, "oauth.unregister", app("b"), "oauth.unregister.response"))
	if un["removed"] != true {
		t.Fatalf("unregister = %v", un)
	}
	wantErr(t, s.skill.request(t, "oauth.token.get", app("b"), "oauth.token.get.response"), "unknown_app")
	if un := noErr(t, s.skill.request(t, "oauth.unregister", app("b"), "oauth.unregister.response")); un["removed"] != false {
		t.Errorf("second unregister = %v", un)
	}
}
