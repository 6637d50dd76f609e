package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// endingTokenEndpoint passes token requests on to the real provider and
// adds refresh_token_expires_in to its answers, as GitHub and Google (apps
// in "Testing") send it.
func endingTokenEndpoint(t *testing.T, tokenEndpoint string, lifetime time.Duration) string {
	target, err := url.Parse(tokenEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL, r.Out.Host = target, target.Host },
		ModifyResponse: func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			var m map[string]any
			if json.Unmarshal(body, &m) == nil && m["access_token"] != nil {
				m["refresh_token_expires_in"] = int64(lifetime / time.Second)
				body, _ = json.Marshal(m)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReauthUpcomingOnTheBus: a login that ends within --reauth-warning is
// told to its skill at once, as oauth.reauth.upcoming.<munged_id> with the
// end and the reason; oauth.status and ovos-oauth status give the end.
func TestReauthUpcomingOnTheBus(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir(), "--reauth-warning", "30d")
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{d.baseURL + "/auth/callback/" + skillID + "_ending"}})
	s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
	s.register(t, "ending", "web", secret, map[string]any{"token_endpoint": endingTokenEndpoint(t, p.TokenEndpoint, 20*24*time.Hour)})
	loggedIn := time.Now()
	p.Login(t, noErr(t, s.skill.request(t, "oauth.get", app("ending"), "oauth.url"))["url"].(string))
	s.skill.Expect(t, "oauth.token.response."+skillID+"_ending")

	ev := dataOf(t, s.skill.Expect(t, "oauth.reauth.upcoming."+skillID+"_ending"))
	end, _ := ev["login_expires_at"].(float64)
	if want := float64(loggedIn.Add(20 * 24 * time.Hour).Unix()); end < want-5 || end > want+5 {
		t.Errorf("login_expires_at = %v, want about %v", end, want)
	}
	if ev["skill_id"] != skillID || ev["app_id"] != "ending" || ev["munged_id"] != skillID+"_ending" || ev["reason"] == "" {
		t.Errorf("oauth.reauth.upcoming = %v, want skill_id, app_id, munged_id and a reason", ev)
	}

	st := noErr(t, s.skill.request(t, "oauth.status", map[string]any{"skill_id": skillID}, "oauth.status.response"))
	apps, _ := st["apps"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["login_expires_at"] != end {
		t.Errorf("oauth.status apps = %v, want login_expires_at %v", apps, end)
	}
	table := runCLI(t, "status", "--bus-url="+d.busURL).want(t, exitOK).stdout
	if !strings.Contains(table, "LOGIN ENDS") || !strings.Contains(table, "in 20 days") {
		t.Errorf("ovos-oauth status does not say the login ends in 20 days:\n%s", table)
	}
}
