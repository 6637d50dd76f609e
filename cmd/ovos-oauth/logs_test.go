package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// TestNoSecretInLogs runs a login, a refresh and a pending login with the
// log at debug level, then looks for every secret of them in the log: the
// client secret, the code, states, the PKCE verifier, access and refresh
// tokens.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
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

	db := storetest.Open(t, storetest.Path(filepath.Join(s.d.dataDir, "ovos-oauth.db")))
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

// TestNoSecretInLogsOnFailure: a gateway in front of the token endpoint
// answers 502 and echoes the request, which holds the client secret, the
// code and the PKCE verifier; none of them reaches the log.
func TestNoSecretInLogsOnFailure(t *testing.T) {
	t.Parallel()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "upstream failed for %s %s", r.Header.Get("Authorization"), body)
	}))
	defer echo.Close()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	s.register(t, "demoapp", "web", secret, map[string]any{"token_endpoint": echo.URL, "token_auth": "post"})
	loc := s.redirectFor(t, "demoapp")
	u, _ := url.Parse(loc)

	oldBase := s.d.baseURL
	flows := pendingFlows(t, s)
	loc = strings.Replace(loc, oldBase, s.d.baseURL, 1)
	if status, _ := get(t, loc); status != http.StatusBadGateway {
		t.Fatalf("callback with a failing token endpoint: status %d, want 502", status)
	}
	wantErr(t, s.skill.Expect(t, "oauth.token.error."+skillID+"_demoapp"), "provider_unavailable")
	logs := s.d.logs.String()
	if !strings.Contains(logs, "login failed") {
		t.Fatalf("the failure is not logged:\n%s", logs)
	}
	for name, v := range map[string]string{"client secret": secret, "code": u.Query().Get("code"), "verifier": flows[u.Query().Get("state")]} {
		if len(v) < 8 {
			t.Fatalf("%s %q too short to look for", name, v)
		}
		if strings.Contains(logs, v) {
			t.Errorf("the %s is in the log", name)
		}
	}
}

// pendingFlows reads the verifiers of the daemon's pending logins, by state,
// through a second read-only look at its store: bbolt allows one writer, so
// the daemon is paused by stopping it and started again on the same data.
func pendingFlows(t *testing.T, s *setup) map[string]string {
	t.Helper()
	busURL := s.d.busURL
	if err := s.d.stop(); err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, storetest.Path(filepath.Join(s.d.dataDir, "ovos-oauth.db")))
	flows, err := db.Flows()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range flows {
		out[f.State.Reveal()] = f.Verifier.Reveal()
	}
	// The restarted daemon listens on a new port: point the test at it.
	d := startDaemon(t, busURL, s.d.dataDir)
	s.skill.Expect(t, "oauth.ping")
	s.d.logs, s.d.stop = d.logs, d.stop
	s.d.baseURL = d.baseURL
	return out
}

// TestNoLoginLinkInLogs: a short link's flow id opens its login, so no log
// line carries it, whatever happens to the login (started, opened,
// refused, completed, left pending); the log names each login by its tag
// instead.
func TestNoLoginLinkInLogs(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	s.register(t, "demoapp", "web", secret, nil)
	flowID := func(link string) string {
		t.Helper()
		id, ok := strings.CutPrefix(link, s.d.baseURL+oauth.StartPath)
		if !ok || len(id) < 16 {
			t.Fatalf("link %q is not a short link with a flow id", link)
		}
		return id
	}

	got := noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))
	link := got["link"].(string)
	done := flowID(link)
	if status, _ := get(t, link); status != http.StatusSeeOther {
		t.Fatalf("short link: %d, want 303 to the provider", status)
	}
	// A paste on a page that is no loopback login's: refused, and logged.
	resp, err := http.PostForm(link, url.Values{"url": {"nothing"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("paste of nonsense: %d, want 400", resp.StatusCode)
	}
	if resp, _ := s.p.Login(t, got["url"].(string)); resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp")
	pending := flowID(noErr(t, s.skill.request(t, "oauth.get", app("demoapp"), "oauth.url"))["link"].(string))

	logs := s.d.logs.String()
	if !strings.Contains(logs, "callback refused") || !strings.Contains(logs, "login completed") {
		t.Fatalf("the log does not show the login's steps:\n%s", logs)
	}
	for name, id := range map[string]string{"completed": done, "pending": pending} {
		if strings.Contains(logs, id) {
			t.Errorf("the %s login's flow id is in the log:\n%s", name, logs)
		}
		if !strings.Contains(logs, oauth.FlowTag(id)) {
			t.Errorf("the %s login's tag %s is not in the log:\n%s", name, oauth.FlowTag(id), logs)
		}
	}
	if m := flowIDLike.FindString(logs); m != "" {
		t.Errorf("the log holds %q, which looks like a flow id", m)
	}
}

// flowIDLike is what a flow id looks like (rand.Text's 26 base32
// characters), to find one in a log without knowing it.
var flowIDLike = regexp.MustCompile(`[^A-Z2-7][A-Z2-7]{26}[^A-Z2-7]`)

// TestNoDeviceLoginIDInLogs: a device login's flow id, which no reply
// carries but which opens the login at the short link all the same, stays
// out of the log too; its lines carry the tag.
func TestNoDeviceLoginIDInLogs(t *testing.T) {
	t.Parallel()
	s, _ := deviceSetup(t, oauthtest.Options{})
	noErr(t, s.skill.request(t, "oauth.get", app("tv"), "oauth.url"))
	started := logRecords(s.d, func(rec map[string]any) bool { return rec["msg"] == "device login started" })
	if len(started) != 1 {
		t.Fatalf("%d device login started lines, want 1:\n%s", len(started), s.d.logs)
	}
	if tag, _ := started[0]["flow"].(string); !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(tag) {
		t.Errorf("device login started with flow %q, want the login's 8-digit tag", tag)
	}
	if m := flowIDLike.FindString(s.d.logs.String()); m != "" {
		t.Errorf("the log holds %q, which looks like a flow id:\n%s", m, s.d.logs)
	}
}
