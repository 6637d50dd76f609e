//go:build unix

package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/proctest"
)

// hangingTokenEndpoint never answers a code exchange: it tells the test
// that one arrived and holds it until the daemon's end closes the
// connection, or the test ends.
func hangingTokenEndpoint(t *testing.T) (url string, arrived <-chan struct{}) {
	in, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() == nil && r.PostForm.Get("grant_type") == "authorization_code" {
			once.Do(func() { close(in) })
		}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // before Close, which waits for the handler
	return srv.URL + "/token", in
}

// TestLoginInterruptedByKill: a daemon SIGKILLed while the provider's token
// endpoint holds a login's code exchange tells the skill, once restarted,
// that the login was interrupted, and the phone's retry of the callback, or
// of the login's short link, gets a page that says to start again rather
// than that the link is not valid.
func TestLoginInterruptedByKill(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	skill := newSkill(t, busURL, skillID)
	dataDir, home := t.TempDir(), t.TempDir()
	logs, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	// One port for both runs: the provider knows the callback by it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	base := "http://127.0.0.1:" + port
	start := func() *proctest.Child {
		cmd := daemonCommand(t, home, "serve", "--bus-url", busURL, "--listen", "127.0.0.1:"+port, "--public-host", "127.0.0.1",
			"--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"), "--log-format", "json", "--mirror-ovos-utils=false")
		cmd.Stderr = logs
		daemon := proctest.Start(t, cmd)
		skill.Expect(t, "oauth.ping") // on the bus
		return daemon
	}
	daemon := start()

	const appID = "cut"
	munged := skillID + "_" + appID
	p := oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: []string{base + "/auth/callback/" + munged}})
	tokenURL, arrived := hangingTokenEndpoint(t)
	noErr(t, skill.request(t, "oauth.register", map[string]any{
		"skill_id": skillID, "app_id": appID, "client_id": "web", "client_secret": secret,
		"auth_endpoint": p.AuthEndpoint, "token_endpoint": tokenURL, "scope": "openid",
	}, "oauth.register.response"))
	opened := noErr(t, skill.request(t, "oauth.get", app(appID), "oauth.url"))
	authURL, link := opened["url"].(string), opened["link"].(string)
	resp, _ := p.LoginWith(t, noRedirect(p.Phone(t), "127.0.0.1:"+port), authURL)
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, base+"/auth/callback/"+munged+"?") {
		t.Fatalf("provider redirect = %q, want the daemon's callback", callback)
	}

	// The phone follows the redirect; the daemon spends the state and
	// sends the code to the token endpoint, which holds it.
	phoneDone := make(chan error, 1)
	go func() {
		resp, err := http.Get(callback)
		if err == nil {
			resp.Body.Close()
		}
		phoneDone <- err
	}()
	<-arrived
	daemon.Kill(t)
	if err := <-phoneDone; err == nil {
		t.Fatal("the phone got an answer from a daemon killed during the exchange")
	}

	start()
	ev := dataOf(t, skill.Expect(t, "oauth.token.error."+munged))
	if ev["error"] != "interrupted" || ev["skill_id"] != skillID || ev["app_id"] != appID {
		t.Fatalf("oauth.token.error after the restart = %v, want error interrupted for the app", ev)
	}
	if desc, _ := ev["error_description"].(string); !strings.Contains(desc, "start the login again") {
		t.Errorf("error_description = %q, want it to say to start the login again", desc)
	}

	for _, retry := range []struct{ name, url string }{{"callback", callback}, {"short link", link}} {
		status, body := get(t, retry.url)
		if status != http.StatusGone || !strings.Contains(body, "<h1>This login was interrupted</h1>") || !strings.Contains(body, "start the login again") {
			t.Errorf("phone's retry of the %s after the restart: status %d, page %q; want 410 and a page that says to start again", retry.name, status, pageText(body))
		}
	}
	// Reported once: a marker request's reply comes after any second report.
	skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response")
	if n := countType(skill.Peer, "oauth.token.error."+munged); n != 1 {
		t.Errorf("%d oauth.token.error for the interrupted login, want 1", n)
	}
}

// pageText is a page's heading and paragraphs, for failure messages.
func pageText(body string) string {
	var text []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "<h1>") || strings.HasPrefix(line, "<p") {
			text = append(text, line)
		}
	}
	return strings.Join(text, " ")
}
