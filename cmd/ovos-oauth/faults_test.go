package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// faultyTokenEndpoint stands between the daemon and the real provider's
// token endpoint and, while a fault is set, answers refresh requests itself.
type faultyTokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	fault    string // "", "500", "garbage", "invalid_grant"
	refused  int    // refresh requests it answered with a fault
	upstream int    // refresh requests it passed on
}

func newFaultyTokenEndpoint(t *testing.T, tokenEndpoint string) *faultyTokenEndpoint {
	target, err := url.Parse(tokenEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL = target
		r.Out.Host = target.Host
	}}
	f := &faultyTokenEndpoint{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f.mu.Lock()
		fault := f.fault
		if form.Get("grant_type") == "refresh_token" {
			if fault != "" {
				f.refused++
			} else {
				f.upstream++
			}
		}
		f.mu.Unlock()
		if form.Get("grant_type") != "refresh_token" || fault == "" {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch fault {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"server_error"}`)
		case "garbage":
			io.WriteString(w, `<html>proxy error`)
		case "invalid_grant":
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"refresh token revoked"}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *faultyTokenEndpoint) set(fault string) {
	f.mu.Lock()
	f.fault = fault
	f.mu.Unlock()
}

func (f *faultyTokenEndpoint) counts() (refused, upstream int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, f.upstream
}

// TestProviderFaults: passing faults at the token endpoint keep the token
// and the next refresh works with it; invalid_grant tells the skill once
// that the user must log in again, and nothing more is sent to the provider.
func TestProviderFaults(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemonTuned(t, busURL, t.TempDir(), homeEnv(t, t.TempDir()), shortMirrorWait)
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_demoapp"}})
	proxy := newFaultyTokenEndpoint(t, p.TokenEndpoint)
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "demoapp", "web", secret, map[string]any{"token_endpoint": proxy.URL})
	authURL := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)
	p.Login(t, authURL)
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")))

	for _, fault := range []string{"500", "garbage"} {
		proxy.set(fault)
		got := wantErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"), "provider_unavailable")
		if got["result"] != "Error" {
			t.Errorf("%s: result = %v", fault, got["result"])
		}
		// The token still works, and so does the refresh token once the
		// provider is back.
		tok := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
		s.checkToken(t, tok)
		proxy.set("")
		ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
		s.checkToken(t, ref["token"].(map[string]any))
		s.skill.Expect(t, "oauth.token.refreshed."+skillID+"_demoapp")
	}

	proxy.set("invalid_grant")
	wantErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"), "reauth_required")
	ev := dataOf(t, s.skill.Expect(t, "oauth.reauth.required."+skillID+"_demoapp"))
	if ev["reason"] != "invalid_grant" || ev["app_id"] != "demoapp" {
		t.Errorf("reauth event = %v", ev)
	}
	refused, _ := proxy.counts()
	wantErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"), "reauth_required")
	wantErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"), "reauth_required")
	if again, _ := proxy.counts(); again != refused {
		t.Errorf("the dead refresh token was sent again")
	}
	st := noErr(t, s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response"))
	if a := st["apps"].([]any)[0].(map[string]any); a["needs_reauth"] != true || a["authorized"] != false {
		t.Errorf("status after refusal = %v", a)
	}
	for _, m := range s.skill.Seen() {
		if m.Type == "oauth.reauth.required."+skillID+"_demoapp" {
			refused--
		}
	}
	// A new login clears it.
	proxy.set("")
	authURL = noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["url"].(string)
	p.Login(t, authURL)
	s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")
	s.checkToken(t, noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response")))
	n := 0
	for _, m := range s.skill.Seen() {
		if m.Type == "oauth.reauth.required."+skillID+"_demoapp" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reauth.required events, want exactly one", n)
	}
}
