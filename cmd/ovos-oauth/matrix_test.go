package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestLoginMatrix runs the whole login for a confidential client and for a
// public, PKCE-only one, finished each of the three ways a user can: the
// oauth.get URL, the QR code's short link, and ovos-shell's forward.
func TestLoginMatrix(t *testing.T) {
	t.Parallel()
	clients := []struct {
		name, id, secret string
	}{
		{"confidential", "web", secret},
		{"public", "native", ""},
	}
	ways := []struct {
		name  string
		login func(t *testing.T, s *setup, appID string)
	}{
		{"oauth.get", func(t *testing.T, s *setup, appID string) {
			u := noErr(t, s.skill.request(t, "oauth.get", app(appID), "oauth.url"))["url"].(string)
			if resp, _ := s.p.Login(t, u); resp.StatusCode != http.StatusOK {
				t.Fatalf("callback status %d", resp.StatusCode)
			}
		}},
		{"QR short link", func(t *testing.T, s *setup, appID string) {
			qr := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app(appID), "oauth.generate.qr.response"))
			if resp, _ := s.p.Login(t, decodeQR(t, qr["qr"].(string))); resp.StatusCode != http.StatusOK {
				t.Fatalf("callback status %d", resp.StatusCode)
			}
		}},
		{"shell forward", func(t *testing.T, s *setup, appID string) {
			start := noErr(t, s.skill.request(t, "oauth.start", app(appID), "ovos.shell.oauth.start.authentication"))
			phone := noRedirect(s.p.Phone(t), hostOf(t, s.d.baseURL))
			resp, _ := s.p.LoginWith(t, phone, start["url"].(string))
			fwd := app(appID)
			fwd["redirectURL"] = resp.Header.Get("Location")
			if got := noErr(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response")); got["authorized"] != true {
				t.Fatalf("forward = %v", got)
			}
		}},
	}
	for _, c := range clients {
		for _, w := range ways {
			t.Run(c.name+" via "+w.name, func(t *testing.T) {
				appID := c.name + "-" + strings.ReplaceAll(w.name, " ", "-")
				appID = strings.ReplaceAll(appID, ".", "-")
				s := newSetup(t, map[string]string{c.id: c.secret}, appID)
				s.register(t, appID, c.id, c.secret, nil)
				w.login(t, s, appID)
				s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_"+appID)))
			})
		}
	}
}
