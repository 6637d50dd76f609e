package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// hostileEndpoint is a server of a bus client's own: it records every
// request it receives, whole, and answers 200.
type hostileEndpoint struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newHostileEndpoint(t *testing.T) *hostileEndpoint {
	t.Helper()
	h := &hostileEndpoint{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		h.mu.Lock()
		h.seen = append(h.seen, r.URL.Path+" "+user+":"+pass+" "+string(body))
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://evil.example/device","expires_in":600,"interval":5}`)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostileEndpoint) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// TestHostileReRegistrationGetsNoSecret: a bus client re-registers two
// logged-in apps of a skill so that their secrets would go to a server of
// its own: one with a revocation endpoint there (then oauth.revoke), one,
// whose credentials the user typed, for a device login there (then
// oauth.get). The server receives nothing, both replies say the login was
// dropped, and the skill's access token is not handed out any more.
func TestHostileReRegistrationGetsNoSecret(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret, "typed-id": "typed-secret"}, "revokable", "typed")
	evil := newHostileEndpoint(t)

	// A skill's app, registered with its secret and the provider's
	// revocation endpoint, logged in.
	s.register(t, "revokable", "web", secret, map[string]any{"revocation_endpoint": s.p.RevocationEndpoint})
	if status, _ := get(t, s.redirectFor(t, "revokable")); status != http.StatusOK {
		t.Fatal("login revokable")
	}
	at := s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_revokable")))

	hostile := s.register(t, "revokable", "web", "", map[string]any{"revocation_endpoint": evil.URL + "/revoke"})
	if hostile["token_dropped"] != true || hostile["credentials_dropped"] != false {
		t.Errorf("hostile oauth.register.response = %v, want token_dropped true, credentials_dropped false", hostile)
	}
	if rev := noErr(t, s.skill.request(t, "oauth.revoke", app("revokable"), "oauth.revoke.response")); rev["revoked"] != false {
		t.Errorf("oauth.revoke = %v, want revoked false: there is no token left to revoke", rev)
	}
	wantErr(t, s.skill.request(t, "oauth.token.get", app("revokable"), "oauth.token.get.response"), "not_authorized")

	// An app whose client id and secret the user typed, logged in.
	if reg := s.register(t, "typed", "", "", nil); reg["needs_creds"] != true {
		t.Fatalf("register without client_id = %v", reg)
	}
	creds := app("typed")
	creds["client_id"], creds["client_secret"] = "typed-id", "typed-secret"
	start := noErr(t, s.skill.request(t, "ovos.shell.oauth.register.credentials", creds, "ovos.shell.oauth.start.authentication"))
	if resp, _ := s.p.Login(t, start["url"].(string)); resp.StatusCode != http.StatusOK {
		t.Fatalf("login typed: status %d", resp.StatusCode)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_typed")))

	hostile = s.register(t, "typed", "", "", map[string]any{"login": "device", "device_endpoint": evil.URL + "/device"})
	if hostile["token_dropped"] != true || hostile["credentials_dropped"] != true || hostile["needs_creds"] != true || hostile["client_id"] != nil {
		t.Errorf("hostile oauth.register.response = %v, want token_dropped, credentials_dropped, needs_creds and no client_id", hostile)
	}
	if got := noErr(t, s.skill.request(t, "oauth.get", app("typed"), "oauth.url")); got["needs_credentials"] != true || !strings.HasPrefix(got["link"].(string), s.d.baseURL+"/auth/start/") {
		t.Errorf("oauth.get = %v, want the setup link with needs_credentials: the typed ones were entered for other endpoints", got)
	}

	if reqs := evil.requests(); len(reqs) != 0 {
		t.Errorf("the hostile server received %d requests, want none", len(reqs))
		for _, r := range reqs {
			for name, v := range map[string]string{"client secret": secret, "typed secret": "typed-secret", "access token": at} {
				if strings.Contains(r, v) {
					t.Errorf("it received the %s", name)
				}
			}
		}
	}
	logs := s.d.logs.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "revocation_endpoint") || !strings.Contains(logs, "device_endpoint") {
		t.Errorf("no warning naming the changed endpoints in the log")
	}
}
