package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestLoginModeChangeEndsPendingLogin: registering an app for another
// login mode ends its pending login of the old one: status shows no
// pending login beside the new mode, the old link says the login was
// ended, and the provider's answer to the old login gives no token.
func TestLoginModeChangeEndsPendingLogin(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demo")
	s.register(t, "demo", "web", secret, nil) // lan
	old := noErr(t, s.skill.request(t, "oauth.get", app("demo"), "oauth.url"))
	statusOf := func() map[string]any {
		t.Helper()
		st := noErr(t, s.skill.request(t, "oauth.status", map[string]any{"skill_id": skillID}, "oauth.status.response"))
		apps, _ := st["apps"].([]any)
		if len(apps) != 1 {
			t.Fatalf("oauth.status = %v, want one app", st)
		}
		return apps[0].(map[string]any)
	}
	if a := statusOf(); a["flow"] != "code" || a["login"] != "lan" {
		t.Fatalf("status before = flow %v, login %v; want code, lan", a["flow"], a["login"])
	}

	if reg := s.register(t, "demo", "web", secret, map[string]any{"login": "loopback"}); reg["login"] != "loopback" {
		t.Fatalf("register = %v, want login loopback", reg)
	}
	if a := statusOf(); a["flow"] != nil || a["login"] != "loopback" {
		t.Errorf("status after the mode changed = flow %v, login %v; want no pending login beside loopback", a["flow"], a["login"])
	}
	status, body := get(t, old["link"].(string))
	if status == http.StatusSeeOther || !strings.Contains(pageText(body), "ended") {
		t.Errorf("the old link: %d %q, want a page saying the login was ended", status, pageText(body))
	}

	// The user logs in at the provider with the old login's address all
	// the same: its answer reaches the callback and is refused.
	phone := noRedirect(s.p.Phone(t), hostOf(t, s.d.baseURL))
	resp, _ := s.p.LoginWith(t, phone, old["url"].(string))
	answer := resp.Header.Get("Location")
	if !strings.HasPrefix(answer, s.d.baseURL+"/auth/callback/") {
		t.Fatalf("provider redirect = %q, want the LAN callback", answer)
	}
	if status, body := get(t, answer); status == http.StatusOK {
		t.Errorf("the old login's answer: %d %q, want it refused", status, pageText(body))
	}
	s.noTokenEvent(t, "demo")
}
