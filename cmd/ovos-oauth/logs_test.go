package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// TestNoSecretInLogs runs a login, a refresh and a pending login with the
// log at debug level, then looks for every secret of them in the log: the
// client secret, the code, states, the PKCE verifier, access and refresh
// tokens.
func TestNoSecretInLogs(t *testing.T) {
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	s.register(t, "demoapp", "web", secret, nil)

	loc := s.redirectFor(t, "demoapp")
	u, _ := url.Parse(loc)
	secrets := map[string]string{"client secret": secret, "code": u.Query().Get("code"), "state": u.Query().Get("state")}
	if status, _ := get(t, loc); status != 200 {
		t.Fatalf("callback: %d", status)
	}
	secrets["access token"] = dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp"))["access_token"].(string)
	ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	secrets["refreshed access token"] = ref["token"].(map[string]any)["access_token"].(string)
	noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url")) // left pending
	if err := s.d.stop(); err != nil {
		t.Fatal(err)
	}

	db := store.New(filepath.Join(s.d.dataDir, "ovos-oauth.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok, err := db.Token(skillID + "_demoapp")
	if err != nil {
		t.Fatal(err)
	}
	secrets["refresh token"] = tok.RefreshToken.Reveal()
	flows, err := db.Flows()
	if err != nil || len(flows) != 1 {
		t.Fatalf("pending flows = %d, %v; want 1", len(flows), err)
	}
	secrets["pending state"], secrets["verifier"] = flows[0].State.Reveal(), flows[0].Verifier.Reveal()

	logs := s.d.logs.String()
	if !strings.Contains(logs, "login completed") || !strings.Contains(logs, "token refreshed") {
		t.Fatalf("the log does not show the flow's steps:\n%s", logs)
	}
	for name, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("%s %q is too short to look for", name, v)
		}
		if strings.Contains(logs, v) {
			t.Errorf("the %s is in the log", name)
		}
	}
}
