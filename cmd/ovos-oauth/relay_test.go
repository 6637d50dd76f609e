package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// TestRelayLoginInChromium runs a whole relay login: the provider knows
// only the HTTPS relay page as redirect URI (served from a static HTTPS
// server, as a GitHub Pages copy would be); the phone lands there, and the
// page, run by a real headless Chromium, sends it on to the device, which
// finishes the login.
func TestRelayLoginInChromium(t *testing.T) {
	t.Parallel()
	static := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ovos/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(relay.Page())
	}))
	t.Cleanup(static.Close)
	relayURL := static.URL + "/ovos/"

	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir(), "--relay-url", relayURL)
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{relayURL}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	reg := s.register(t, "relayed", "web", secret, nil)
	if reg["login"] != "relay" || reg["redirect_uri"] != relayURL {
		t.Fatalf("register with the daemon's relay_url = %v, want login relay and the relay's URL", reg)
	}

	authURL := noErr(t, s.skill.request(t, "oauth.get", app("relayed"), "oauth.url"))["url"].(string)
	if u, _ := url.Parse(authURL); u.Query().Get("redirect_uri") != relayURL {
		t.Fatalf("authorization URL %s: want the relay as redirect_uri", authURL)
	}
	phone := noRedirect(p.Phone(t), hostOf(t, relayURL))
	resp, _ := p.LoginWith(t, phone, authURL)
	landed := resp.Header.Get("Location")
	if !strings.HasPrefix(landed, relayURL+"?") {
		t.Fatalf("provider sent the phone to %q, want the relay page", landed)
	}

	flags := append([]string{browsertest.IgnoreCertificateErrors, browsertest.VirtualTimeBudget(5 * time.Second)}, browsertest.LoopbackOnly("127.0.0.1:9")...)
	dom := browsertest.DumpDOM(t, landed, flags...)
	if !strings.Contains(dom, "logged in") {
		t.Fatalf("the phone's browser ended on:\n%s\nwant the device's success page", dom)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_relayed")))
	if n := s.count("oauth.token.error." + skillID + "_relayed"); n != 0 {
		t.Errorf("%d token.error events", n)
	}
}
