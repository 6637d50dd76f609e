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

// TestRelayHostWarning: with a public_host the relay page refuses (a .lan
// name), every relay login would end on the page's "This link cannot be
// used"; the daemon says so at start and in oauth.register.response's
// warning, which says what to do. A host the page accepts (a .home.arpa
// name) gets no warning, nor does an app that does not log in by relay.
func TestRelayHostWarning(t *testing.T) {
	t.Parallel()
	const relayURL = "https://relay.example/ovos/"
	tests := []struct {
		host string
		warn bool
	}{
		{"ovos.lan", true},
		{"ovos.home.arpa", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			busURL, _ := bustest.StartHub(t)
			d := startDaemon(t, busURL, t.TempDir(), "--public-host", tt.host, "--relay-url", relayURL)
			s := &setup{d: d, p: oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{relayURL}}), skill: newSkill(t, busURL, skillID)}
			started := logRecords(d, func(rec map[string]any) bool {
				return rec["level"] == "WARN" && strings.Contains(rec["msg"].(string), "relay page")
			})
			if got := len(started) == 1; got != tt.warn {
				t.Errorf("start-up warnings about the relay page: %v, want one: %v\n%s", started, tt.warn, d.logs)
			}
			relayed := s.register(t, "relayed", "web", secret, nil)
			warning, ok := relayed["warning"].(string)
			if !ok || relayed["login"] != "relay" {
				t.Fatalf("register of a relay app = %v, want login relay and a warning field", relayed)
			}
			if tt.warn && (!strings.Contains(warning, tt.host) || !strings.Contains(warning, "public_host")) {
				t.Errorf("warning = %q, want it to name the host and say to set public_host", warning)
			}
			if !tt.warn && warning != "" {
				t.Errorf("warning = %q, want none", warning)
			}
			lan := s.register(t, "direct", "web", secret, map[string]any{"login": "lan"})
			if w, ok := lan["warning"].(string); !ok || w != "" {
				t.Errorf("register of a lan app: warning = %#v, want the field, empty", lan["warning"])
			}
			// ovos-oauth login passes the warning on (last: its reply, which
			// names no skill, would be taken for the skill's).
			cli := runCLI(t, "login", skillID, "bycli", "--bus-url", busURL, "--client-id", "web",
				"--auth-endpoint", s.p.AuthEndpoint, "--token-endpoint", s.p.TokenEndpoint,
				"--login-mode", "relay", "--no-qr", "--wait", "1ms").want(t, exitFailed)
			if got := strings.Contains(cli.stdout, "warning: "+warning); got != tt.warn || tt.warn && warning == "" {
				t.Errorf("ovos-oauth login printed the warning: %v, want %v:\n%s", got, tt.warn, cli.stdout)
			}
		})
	}
}
