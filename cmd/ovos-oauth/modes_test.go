package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// loopbackSetup is a daemon whose LAN address (localhost here) differs
// from the loopback literal its loopback apps redirect to, and a provider
// whose client accepts only that loopback redirect, as Spotify's does.
func loopbackSetup(t *testing.T, apps ...string) (*setup, string) {
	t.Helper()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir(), "--public-host", "localhost")
	port := strings.TrimPrefix(d.baseURL, "http://localhost:")
	loopback := "http://127.0.0.1:" + port
	var uris []string
	for _, a := range apps {
		uris = append(uris, loopback+"/auth/callback/"+skillID+"_"+a)
	}
	s := &setup{d: d, p: oauthtest.Start(t, oauthtest.Client{ID: "web", Secret: secret, RedirectURIs: uris}), skill: newSkill(t, busURL, skillID)}
	for _, a := range apps {
		reg := s.register(t, a, "web", secret, map[string]any{"login": "loopback"})
		if reg["login"] != "loopback" || reg["redirect_uri"] != loopback+"/auth/callback/"+skillID+"_"+a {
			t.Fatalf("register = %v, want login loopback and the 127.0.0.1 redirect URI", reg)
		}
	}
	return s, loopback
}

// TestLoopbackOnTheDevice: ovos-shell's browser on the device itself lands
// on 127.0.0.1, which is the device: the login finishes as any other.
func TestLoopbackOnTheDevice(t *testing.T) {
	t.Parallel()
	s, loopback := loopbackSetup(t, "spotify")
	start := noErr(t, s.skill.request(t, "oauth.start", app("spotify"), "ovos.shell.oauth.start.authentication"))
	authURL, _ := start["url"].(string)
	u, err := url.Parse(authURL)
	if err != nil || u.Query().Get("redirect_uri") != loopback+"/auth/callback/"+skillID+"_spotify" {
		t.Fatalf("start url = %q, want the loopback redirect URI", authURL)
	}
	resp, body := s.p.Login(t, authURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "logged in") || resp.Request.URL.Host != strings.TrimPrefix(loopback, "http://") {
		t.Fatalf("the device's browser ended at %s with %d %q", resp.Request.URL.Redacted(), resp.StatusCode, body)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_spotify")))
}

// phoneToLoopback runs a loopback login on a phone up to where the provider
// sends it to 127.0.0.1, which on a phone does not load, and returns that
// address: what the user pastes.
func phoneToLoopback(t *testing.T, s *setup, loopback, startLink string) string {
	t.Helper()
	phone := noRedirect(s.p.Phone(t), strings.TrimPrefix(loopback, "http://"))
	resp, _ := s.p.LoginWith(t, phone, startLink)
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, loopback+"/auth/callback/") {
		t.Fatalf("provider answered %d to %q, want a redirect to the loopback callback", resp.StatusCode, loc)
	}
	return loc
}

// TestLoopbackPastedInChromium: the QR code's link leads the phone to a
// page that explains the login and takes the address the phone ended on;
// pasted in a real browser, it finishes the login. A spent state and
// another app's state are refused, and the refusal leaves that app's login
// as it was.
func TestLoopbackPastedInChromium(t *testing.T) {
	t.Parallel()
	s, loopback := loopbackSetup(t, "spotify", "other")
	qr := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("spotify"), "oauth.generate.qr.response"))
	link := decodeQR(t, qr["qr"].(string))
	if !strings.HasPrefix(link, s.d.baseURL+"/auth/start/") {
		t.Fatalf("QR code holds %q, want the short link", link)
	}
	status, page := get(t, link)
	if status != http.StatusOK || !strings.Contains(page, `href="/auth/start/`) || !strings.Contains(page, "?login") || !strings.Contains(page, "<textarea") {
		t.Fatalf("short link of a loopback login: %d, want the page with the Log in link and the paste form:\n%s", status, page)
	}
	if strings.Contains(page, "state=") {
		t.Errorf("the page carries the state")
	}
	pasted := phoneToLoopback(t, s, loopback, link+"?login")

	// Another app's login, pasted on this one's page: refused, and that
	// login still completes afterwards.
	other := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("other"), "oauth.generate.qr.response"))
	otherPasted := phoneToLoopback(t, s, loopback, decodeQR(t, other["qr"].(string))+"?login")
	// The phone's browser, whose tabs each show the page.
	phone := browsertest.Start(t)
	first := openPastePage(t, phone, link)
	if text := paste(first, otherPasted); !strings.Contains(text, "another app") {
		t.Errorf("another app's address: page says %q, want a refusal naming another app", text)
	}
	if text := paste(first, "https://example.com/not-it"); !strings.Contains(text, "not the address") {
		t.Errorf("an unrelated address: page says %q", text)
	}

	if text := paste(openPastePage(t, phone, link), pasted); !strings.Contains(text, "You're logged in") {
		t.Fatalf("pasted the loopback address: page says %q, want the login finished", text)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_spotify")))
	// The same address again, on the page still open in the other tab.
	if text := paste(first, pasted); !strings.Contains(text, "This login is finished") {
		t.Errorf("the spent address pasted again: page says %q, want it to say the login is finished", text)
	}

	// The same completion over the bus: the other app's pasted address.
	fwd := app("other")
	fwd["redirectURL"] = otherPasted
	if got := noErr(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response")); got["authorized"] != true {
		t.Fatalf("forward of the other app's loopback address = %v", got)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_other")))
	if n := s.count("oauth.token.error." + skillID + "_other"); n != 0 {
		t.Errorf("%d token.error events for the other app, whose address was refused on the wrong page", n)
	}
}

// TestLoopbackPasteOnlyOnItsOwnPage: a loopback login's page finishes only
// its own login, and only from itself. Another pending login's address,
// of the same app, is refused there; a POST from another site is refused
// whatever it carries. Neither spends anything: both logins then finish,
// each on its own page.
func TestLoopbackPasteOnlyOnItsOwnPage(t *testing.T) {
	t.Parallel()
	s, loopback := loopbackSetup(t, "spotify")
	linkA := noErr(t, s.skill.request(t, "oauth.get", app("spotify"), "oauth.url"))["link"].(string)
	linkB := noErr(t, s.skill.request(t, "oauth.get", app("spotify"), "oauth.url"))["link"].(string)
	pastedA := phoneToLoopback(t, s, loopback, linkA+"?login")
	pastedB := phoneToLoopback(t, s, loopback, linkB+"?login")
	origin := strings.TrimSuffix(s.d.baseURL, "/")

	steps := []struct {
		name, page, pasted string
		headers            map[string]string
		status             int
		words              string
	}{
		{"another login's address", linkA, pastedB, map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"}, http.StatusBadRequest, "another login"},
		{"from another site", linkA, pastedA, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, "page"},
		{"from another site, an old browser", linkA, pastedA, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "page"},
		{"its own address, on its own page", linkB, pastedB, map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"}, http.StatusOK, "logged in"},
		{"the first login, on its own page", linkA, pastedA, nil, http.StatusOK, "logged in"},
	}
	for _, st := range steps {
		status, body := postPaste(t, st.page, st.pasted, st.headers)
		if status != st.status || !strings.Contains(body, st.words) {
			t.Fatalf("%s: %d, want %d with %q:\n%s", st.name, status, st.status, st.words, body)
		}
	}
	for range 2 {
		s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_spotify")))
	}
	if n := s.count("oauth.token.error." + skillID + "_spotify"); n != 0 {
		t.Errorf("%d token.error events: a refused paste spent a login", n)
	}
}

// postPaste posts pasted to a loopback login's page with the given
// headers, as a browser's form would, and returns status and body.
func postPaste(t *testing.T, page, pasted string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, page, strings.NewReader(url.Values{"url": {pasted}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("status %d with Content-Type %q, want a human page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

// openPastePage opens a loopback login's page in a tab of the phone's
// headless Chromium, as the phone shows it after the QR code.
func openPastePage(t *testing.T, phone *browsertest.Browser, pageURL string) *browsertest.Page {
	t.Helper()
	p := phone.Open(t, pageURL)
	p.WaitFor(`document.getElementById("url") ? "ready" : ""`)
	return p
}

// paste types pasted into the page's form, presses Finish and returns the
// text of the page that answers.
func paste(p *browsertest.Page, pasted string) string {
	quoted, _ := json.Marshal(pasted)
	// The old document is marked, so that only the answer's is read.
	p.Evaluate(`window.pasted = true; document.getElementById("url").value = ` + string(quoted) + `; document.querySelector('button[type="submit"]').click()`)
	// The answer is a result page (with its mark) or the form again saying
	// what was wrong.
	return p.WaitFor(`!window.pasted && document.querySelector(".mark, .problem") ? document.querySelector("main").innerText : ""`)
}

// TestShellBrowserReplay replays what ovos-shell's OAuthLoader.qml sends
// during a login: a forward of every URL its browser shows that contains
// "code" and "state" (the authorization URL the moment it is set, a
// provider page that carries the query), then the redirect, which the
// browser also loads itself. Only the redirect is an answer; the skill
// hears of no failure, and exactly one token.
func TestShellBrowserReplay(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "shell")
	s.register(t, "shell", "web", secret, nil)
	start := noErr(t, s.skill.request(t, "oauth.start", app("shell"), "ovos.shell.oauth.start.authentication"))
	authURL := start["url"].(string)

	forward := func(u string) map[string]any {
		t.Helper()
		fwd := app("shell")
		fwd["redirectURL"] = u
		return noErr(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response"))
	}
	if got := forward(authURL); got["ignored"] != true || got["authorized"] != false {
		t.Fatalf("forward of the authorization URL = %v, want ignored", got)
	}
	providerPage := s.p.Issuer + "login/username?authRequestID=x&continue=" + url.QueryEscape(authURL)
	if got := forward(providerPage); got["ignored"] != true {
		t.Fatalf("forward of a provider page with the query = %v, want ignored", got)
	}

	phone := noRedirect(s.p.Phone(t), hostOf(t, s.d.baseURL))
	resp, _ := s.p.LoginWith(t, phone, authURL)
	landed := resp.Header.Get("Location")
	if got := forward(landed); got["authorized"] != true {
		t.Fatalf("forward of the redirect = %v, want authorized: the stray forwards spent the login", got)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_shell")))
	// The popup's browser loads the redirect itself too.
	if status, body := get(t, landed); status != http.StatusOK || !strings.Contains(body, "This login is finished") {
		t.Errorf("the browser's own load of the redirect: %d, want 200 saying the login is finished", status)
	}
	s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response") // a marker: what came before it has arrived
	if n := s.count("oauth.token.error." + skillID + "_shell"); n != 0 {
		t.Errorf("%d oauth.token.error events during a login that succeeded", n)
	}
	if n := s.count("oauth.token.response." + skillID + "_shell"); n != 1 {
		t.Errorf("%d token events, want 1", n)
	}
}
