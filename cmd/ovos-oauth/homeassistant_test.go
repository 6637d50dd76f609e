package main

import (
	"fmt"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// TestHomeAssistantPlugin mirrors ovos-PHAL-plugin-homeassistant's use of
// the contract: its client id is the device's own URL (Home Assistant's
// IndieAuth), it shows the QR code itself, and it reads access_token from
// the token event.
func TestHomeAssistantPlugin(t *testing.T) {
	t.Parallel()
	const (
		haSkill = "ovos-PHAL-plugin-homeassistant"
		haApp   = "homeassistant-phal-plugin"
		munged  = haSkill + "_" + haApp
	)
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir())
	plugin := newSkill(t, busURL, haSkill)
	shell := bustest.Dial(t, busURL)

	info := noErr(t, plugin.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	host, _ := info["host"].(string)
	port, _ := info["port"].(float64)
	if host != "127.0.0.1" || fmt.Sprintf("http://%s:%d", host, int(port)) != d.baseURL {
		t.Fatalf("host info = %v, want the callback server %s", info, d.baseURL)
	}
	clientID := fmt.Sprintf("http://%s:%d", host, int(port))
	p := oauthtest.Start(t, oauthtest.Client{ID: clientID, RedirectURIs: []string{d.baseURL + "/auth/callback/" + munged}})

	reg := noErr(t, plugin.request(t, "oauth.register", map[string]any{
		"skill_id": haSkill, "app_id": haApp, "client_id": clientID,
		"auth_endpoint": p.AuthEndpoint, "token_endpoint": p.TokenEndpoint,
		"refresh_endpoint": "", "shell_integration": false, "scope": "openid",
	}, "oauth.register.response"))
	if reg["munged_id"] != munged {
		t.Fatalf("register = %v", reg)
	}
	qr := noErr(t, plugin.request(t, "oauth.generate.qr.request", map[string]any{"skill_id": haSkill, "app_id": haApp}, "oauth.generate.qr.response"))
	path, _ := qr["qr"].(string)
	link := decodeQR(t, path)

	if resp, body := p.Login(t, link); resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	tok := dataOf(t, plugin.Expect(t, "oauth.token.response."+munged))
	if at, _ := tok["access_token"].(string); at == "" || p.Userinfo(t, at) != 200 {
		t.Fatalf("token event without a working access_token")
	}
	// shell_integration false: ovos-shell was never asked to show the code.
	for _, m := range shell.Seen() {
		if m.Type == "ovos.shell.oauth.display.qr.code" {
			t.Errorf("display.qr.code sent for an app with shell_integration false")
		}
	}
}
