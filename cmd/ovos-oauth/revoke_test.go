package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRevokeSaysWhetherTheProviderWasTold: oauth.revoke and the CLI's
// revoke say whether the provider revoked the token. Without a revocation
// endpoint the token is only forgotten here: revoked is false, and the
// reason says so and what to do; the provider still takes the token.
func TestRevokeSaysWhetherTheProviderWasTold(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "told", "untold")
	s.register(t, "told", "web", secret, map[string]any{"revocation_endpoint": s.p.RevocationEndpoint})
	s.register(t, "untold", "web", secret, nil)
	busFlag := "--bus-url=" + s.d.busURL
	accessToken := func(appID string) string {
		t.Helper()
		return noErr(t, s.skill.request(t, "oauth.token.get", app(appID), "oauth.token.get.response"))["access_token"].(string)
	}

	s.login(t, "told")
	at := accessToken("told")
	rev := noErr(t, s.skill.request(t, "oauth.revoke", app("told"), "oauth.revoke.response"))
	if rev["revoked"] != true || rev["forgotten"] != true || rev["reason"] != "" {
		t.Errorf("oauth.revoke with a revocation endpoint = %v, want revoked, forgotten, no reason", rev)
	}
	if s.p.Userinfo(t, at) == http.StatusOK {
		t.Errorf("the provider still takes the revoked token")
	}

	s.login(t, "untold")
	at = accessToken("untold")
	rev = noErr(t, s.skill.request(t, "oauth.revoke", app("untold"), "oauth.revoke.response"))
	reason, _ := rev["reason"].(string)
	if rev["revoked"] != false || rev["forgotten"] != true || !strings.Contains(reason, "revocation endpoint") || !strings.Contains(reason, "forgotten here only") {
		t.Errorf("oauth.revoke without a revocation endpoint = %v, want revoked false, forgotten, and a reason", rev)
	}
	wantErr(t, s.skill.request(t, "oauth.token.get", app("untold"), "oauth.token.get.response"), "not_authorized")
	if s.p.Userinfo(t, at) != http.StatusOK {
		t.Errorf("the provider no longer takes a token it was never told to revoke: the test's premise is wrong")
	}
	rev = noErr(t, s.skill.request(t, "oauth.revoke", app("untold"), "oauth.revoke.response"))
	if reason, _ := rev["reason"].(string); rev["revoked"] != false || rev["forgotten"] != false || reason == "" {
		t.Errorf("oauth.revoke without a token = %v, want revoked and forgotten false, and a reason", rev)
	}

	// The CLI says the same, in words and in JSON.
	s.login(t, "told")
	out := runCLI(t, "revoke", skillID, "told", busFlag).want(t, exitOK).stdout
	if !strings.Contains(out, "the provider revoked") {
		t.Errorf("revoke with a revocation endpoint printed %q, want it to say the provider revoked the token", out)
	}
	s.login(t, "untold")
	out = runCLI(t, "revoke", skillID, "untold", busFlag).want(t, exitOK).stdout
	if !strings.Contains(out, "forgotten here only") || !strings.Contains(out, "provider was not told") || strings.Contains(out, "revoked and") {
		t.Errorf("revoke without a revocation endpoint printed %q, want it to say the token is only forgotten here", out)
	}
	out = runCLI(t, "revoke", skillID, "untold", busFlag).want(t, exitOK).stdout
	if !strings.Contains(out, "no token") {
		t.Errorf("revoke without a token printed %q, want it to say there was none", out)
	}
	s.login(t, "untold")
	var js struct {
		Revoked, Forgotten bool
		Reason             string
	}
	r := runCLI(t, "revoke", skillID, "untold", "--json", busFlag).want(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || js.Revoked || !js.Forgotten || js.Reason == "" {
		t.Errorf("revoke --json = %s (%v), want revoked false, forgotten and the reason", r.stdout, err)
	}
}
