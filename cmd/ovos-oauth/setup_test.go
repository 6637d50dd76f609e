package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// The client a household made at the provider, typed on the phone.
const (
	householdID     = "household-app"
	householdSecret = "household-s3cr3t-typed-on-the-phone"
)

// TestSetupOnThePhoneInChromium: an app registered without a client id
// still gets a QR code, with needs_credentials and no error. On a phone
// (headless Chromium, 412 by 915), its link opens the setup page, which
// names the service and the skill, links to the provider's console and
// gives the exact redirect URI of the register reply; the client id and
// secret typed there are saved as ovos-shell's form saves them, and the
// same button goes on to the provider's login, which ends with the token
// on the bus. The secret is never shown, logged or put on the bus.
func TestSetupOnThePhoneInChromium(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{householdID: householdSecret}, "music")
	// GitHub's setup steps, against the in-process provider: the
	// registration's endpoints win over the preset's.
	reg := s.register(t, "music", "", "", map[string]any{"provider": "github", "token_auth": "basic"})
	if reg["needs_creds"] != true || reg["login"] != "lan" {
		t.Fatalf("register without client_id = %v, want needs_creds in lan mode", reg)
	}
	qr := noErr(t, s.skill.request(t, "oauth.generate.qr.request", app("music"), "oauth.generate.qr.response"))
	if qr["needs_credentials"] != true {
		t.Fatalf("oauth.generate.qr.response = %v, want needs_credentials true", qr)
	}
	shown := dataOf(t, s.skill.expectFor(t, "ovos.shell.oauth.display.qr.code", app("music")))
	if shown["qr"] != qr["qr"] {
		t.Errorf("display.qr.code = %v, want the setup's QR code on the screen", shown)
	}
	link := decodeQR(t, qr["qr"].(string))
	if !strings.HasPrefix(link, s.d.baseURL+"/auth/start/") || len(link) > 100 {
		t.Fatalf("QR code holds %q, want a short link", link)
	}

	p := browsertest.Open(t, "about:blank")
	p.Phone(412, 915)
	p.Navigate(link)
	p.WaitFor(`document.getElementById("client_id") ? "ready" : ""`)
	if got := p.Evaluate(`document.getElementById("redirect_uri").textContent`); got != reg["redirect_uri"] {
		t.Errorf("the page's redirect URI = %q, want the register reply's %q", got, reg["redirect_uri"])
	}
	// Names are kept on one line by non-breaking hyphens.
	page := strings.ReplaceAll(p.Evaluate(`document.querySelector("main").innerText`), "\u2011", "-")
	for _, w := range []string{"GitHub", skillID, "Authorization callback URL", "Client ID"} {
		if !strings.Contains(page, w) {
			t.Errorf("the setup page does not say %q:\n%s", w, page)
		}
	}
	if got := p.Evaluate(`document.querySelector('a[href^="https://github.com/settings/developers"]') ? "yes" : ""`); got == "" {
		t.Errorf("no link to GitHub's developer console")
	}
	if w := p.Evaluate(`document.documentElement.scrollWidth > window.innerWidth ? document.documentElement.scrollWidth + " > " + window.innerWidth : ""`); w != "" {
		t.Errorf("the setup page is wider than the phone (%s px): cut off", w)
	}
	p.SaveScreenshot("setup-whole-path")

	p.Evaluate(`window.before = true; document.getElementById("client_id").value = "` + householdID + `"; document.getElementById("client_secret").value = "` + householdSecret + `"; document.querySelector('main form button[type="submit"]').click()`)
	p.WaitFor(`!window.before && document.getElementById("username") ? "the provider's login" : ""`)
	p.Evaluate(`window.before = true; document.getElementById("username").value = "` + s.p.Username + `"; document.getElementById("password").value = "` + s.p.Password + `"; document.querySelector("form").submit()`)
	done := p.WaitFor(`!window.before && document.querySelector("main .mark") ? document.querySelector("main").innerText : ""`)
	if !strings.Contains(done, "You're logged in") || !strings.Contains(done, "GitHub") {
		t.Errorf("after the provider's login the phone shows %q, want the success page", done)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_music")))

	// Saved as ovos-shell's form saves them: needs_creds false, kept by
	// the skill's next registration without credentials.
	if reg := s.register(t, "music", "", "", map[string]any{"provider": "github", "token_auth": "basic"}); reg["needs_creds"] != false || reg["client_id"] != householdID || reg["credentials_dropped"] != false {
		t.Errorf("registered again without credentials = %v, want the typed ones kept", reg)
	}
	// The link again: its setup is done.
	p.Evaluate(`window.before = true`)
	p.Navigate(link)
	if again := p.WaitFor(`!window.before && document.querySelector("main h1") ? document.querySelector("main").innerText : ""`); !strings.Contains(again, "set up") {
		t.Errorf("the used link again shows %q, want it to say the app is set up", again)
	}
	for _, f := range s.skill.Frames() {
		if strings.Contains(string(f), householdSecret) {
			t.Errorf("the client secret went on the bus: %s", f)
		}
	}
	if strings.Contains(s.d.logs.String(), householdSecret) {
		t.Error("the client secret is in the daemon's log")
	}
}

// TestSetupWithoutClientIDReplies: oauth.get gives the setup link as url
// and link with needs_credentials and no error; oauth.start stays as
// ovos-shell knows it (needs_credentials, no url: it shows its own form),
// and its form keeps working.
func TestSetupWithoutClientIDReplies(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"typed-id": "typed-secret"}, "nocreds")
	s.register(t, "nocreds", "", "", nil)
	got := noErr(t, s.skill.request(t, "oauth.get", app("nocreds"), "oauth.url"))
	link, _ := got["link"].(string)
	if got["needs_credentials"] != true || !strings.HasPrefix(link, s.d.baseURL+"/auth/start/") || got["url"] != link {
		t.Fatalf("oauth.url = %v, want the setup link as url and link, with needs_credentials", got)
	}
	if status, body := get(t, link); status != http.StatusOK || !strings.Contains(body, `name="client_id"`) {
		t.Fatalf("the setup link: %d, want the setup form:\n%s", status, body)
	}
	start := noErr(t, s.skill.request(t, "oauth.start", app("nocreds"), "ovos.shell.oauth.start.authentication"))
	if start["needs_credentials"] != true || start["url"] != "" {
		t.Fatalf("oauth.start = %v, want needs_credentials and no url, as ovos-shell knows it", start)
	}
	creds := app("nocreds")
	creds["client_id"], creds["client_secret"] = "typed-id", "typed-secret"
	start = noErr(t, s.skill.request(t, "ovos.shell.oauth.register.credentials", creds, "ovos.shell.oauth.start.authentication"))
	if start["needs_credentials"] != false || !strings.Contains(start["url"].(string), "client_id=typed-id") {
		t.Fatalf("after ovos-shell's form: %v", start)
	}
	if got := noErr(t, s.skill.request(t, "oauth.get", app("nocreds"), "oauth.url")); got["needs_credentials"] != false || !strings.HasPrefix(got["url"].(string), s.p.AuthEndpoint) {
		t.Errorf("oauth.get with credentials = %v, want the provider's URL", got)
	}
}

var setupKeyRE = regexp.MustCompile(`name="setup" value="([^"]+)"`)

// setupForm opens a setup link as a phone does and returns the form's own
// setup field.
func setupForm(t *testing.T, link string) string {
	t.Helper()
	status, body := get(t, link)
	m := setupKeyRE.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("setup link: %d, want the setup form:\n%s", status, body)
	}
	return m[1]
}

// postSetup posts the setup form as the page's own form does (its
// Origin), and returns the response, redirects not followed.
func postSetup(t *testing.T, link string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, link, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestSetupGoesOnInTheAppsMode: after saving, a loopback app's setup goes
// on to its paste page, and a device app's shows the code to enter and
// where, and the login finishes once the user entered it.
func TestSetupGoesOnInTheAppsMode(t *testing.T) {
	t.Parallel()
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		s, loopback := loopbackSetup(t, "spotify")
		// Registered again without its client: it needs credentials.
		reg := s.register(t, "spotify", "", "", map[string]any{"login": "loopback", "provider": "spotify", "token_auth": "basic"})
		if reg["redirect_uri"] != loopback+"/auth/callback/"+skillID+"_spotify" {
			t.Fatalf("register = %v", reg)
		}
		link := noErr(t, s.skill.request(t, "oauth.get", app("spotify"), "oauth.url"))["link"].(string)
		resp, _ := postSetup(t, link, url.Values{"setup": {setupForm(t, link)}, "client_id": {"web"}, "client_secret": {secret}})
		next := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(next, "/auth/start/") || next == strings.TrimPrefix(link, s.d.baseURL) {
			t.Fatalf("setup saved: %d to %q, want a redirect to a new login's paste page", resp.StatusCode, next)
		}
		status, page := get(t, s.d.baseURL+next)
		if status != http.StatusOK || !strings.Contains(page, "<textarea") {
			t.Fatalf("after the setup: %d, want the paste page:\n%s", status, page)
		}
		pasted := phoneToLoopback(t, s, loopback, s.d.baseURL+next+"?login")
		if status, body := postPaste(t, s.d.baseURL+next, pasted, nil); status != http.StatusOK || !strings.Contains(body, "logged in") {
			t.Fatalf("pasted: %d:\n%s", status, body)
		}
		s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_spotify")))
	})
	t.Run("device", func(t *testing.T) {
		t.Parallel()
		busURL, _ := bustest.StartHub(t)
		d := startDaemon(t, busURL, t.TempDir())
		// Polls every second, not the 5 s the provider announces by
		// default: the login ends at the first poll after the approval.
		p := oauthtest.StartWith(t, oauthtest.Options{DevicePollInterval: time.Second}, oauthtest.Client{ID: "tv", Secret: secret})
		s := &setup{d: d, p: p, skill: newSkill(t, busURL, skillID)}
		reg := s.register(t, "tv", "", "", map[string]any{"provider": "microsoft", "login": "device", "device_endpoint": s.p.DeviceEndpoint, "token_auth": "basic"})
		if reg["needs_creds"] != true || reg["login"] != "device" {
			t.Fatalf("register = %v", reg)
		}
		link := noErr(t, s.skill.request(t, "oauth.get", app("tv"), "oauth.url"))["link"].(string)
		status, body := get(t, link)
		if status != http.StatusOK || !strings.Contains(body, "Allow public client flows") || strings.Contains(body, `id="redirect_uri"`) {
			t.Fatalf("device app's setup page: %d, want what to switch on and no redirect URI:\n%s", status, body)
		}
		resp, page := postSetup(t, link, url.Values{"setup": {setupForm(t, link)}, "client_id": {"tv"}, "client_secret": {secret}})
		code := regexp.MustCompile(`id="user_code">([^<]+)<`).FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || code == nil || !strings.Contains(page, s.p.Issuer) {
			t.Fatalf("setup saved: %d, want the code and the address to enter it at:\n%s", resp.StatusCode, page)
		}
		if strings.Contains(page, secret) {
			t.Error("the page shows the client secret")
		}
		s.p.ApproveDevice(t, code[1])
		s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_tv")))
	})
}

// TestCLILoginWithoutClientID: "ovos-oauth login" of an app without a
// client id prints the setup page's link and its QR code, saying what it
// is for, and waits: the client id typed on the phone, then the provider's
// login, end it with the token.
func TestCLILoginWithoutClientID(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	d := startDaemon(t, busURL, t.TempDir())
	p := oauthtest.Start(t, oauthtest.Client{ID: householdID, Secret: householdSecret, RedirectURIs: []string{d.baseURL + "/auth/callback/ocp_spotify"}})

	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"login", "ocp", "spotify", "--bus-url", busURL,
			"--provider", "spotify", "--auth-endpoint", p.AuthEndpoint, "--token-endpoint", p.TokenEndpoint,
			"--login-mode", "lan", "--scope", "openid offline_access"}, cliEnv(t), &stdout, &stderr)
	}()
	out := stdout.waitFor(t, "Waiting for the login")
	if !strings.Contains(out, "ocp spotify has no client ID yet") {
		t.Errorf("login does not say the app needs a client id first:\n%s", out)
	}
	link := regexp.MustCompile(`(?m)^  (http://\S+/auth/start/\S+)$`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no setup link in:\n%s", out)
	}
	if got := decodeTerminalQR(t, out); got != link[1] {
		t.Errorf("the terminal QR code reads %q, want the link %q", got, link[1])
	}
	resp, _ := postSetup(t, link[1], url.Values{"setup": {setupForm(t, link[1])}, "client_id": {householdID}, "client_secret": {householdSecret}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %d, want 303 on to the provider", resp.StatusCode)
	}
	p.Login(t, resp.Header.Get("Location"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("login = %v\n%s%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("login did not return after the user logged in:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "Logged in.") || strings.Contains(stdout.String(), householdSecret) {
		t.Errorf("login's output:\n%s\nwant the success line and never the secret", stdout.String())
	}
}
