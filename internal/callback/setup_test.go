package callback_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// The secret a user types on the setup page: it must never come back.
const typedSecret = "typed-s3cr3t-never-echoed"

// lockedBuffer is a log the server and the engine write from any
// goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testClock is a settable clock for the engine.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// setupEnv is the callback server in front of the real engine, on a real
// store, serving on 127.0.0.1: the phone's side of a setup.
type setupEnv struct {
	e    *oauth.Engine
	srv  *callback.Server
	url  string // where the server is reached, its base URL
	clk  *testClock
	logs *lockedBuffer
}

func newSetupEnv(t testing.TB, lang string) *setupEnv {
	t.Helper()
	db := storetest.Open(t)
	ts := httptest.NewUnstartedServer(nil)
	env := &setupEnv{url: "http://" + ts.Listener.Addr().String(), clk: &testClock{now: time.Now()}, logs: &lockedBuffer{}}
	logger := slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.e = oauth.NewEngine(db, nil, env.url, logger)
	env.e.Now = env.clk.Now
	env.srv = callback.New(env.e, logger)
	env.srv.Printer = i18n.For(lang)
	ts.Config.Handler = env.srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return env
}

// setup registers an app without a client id and opens its setup; mod
// sets the rest of the registration.
func (env *setupEnv) setup(t testing.TB, appID string, mod func(*oauth.Registration)) (link string, f *oauth.Flow) {
	t.Helper()
	r := oauth.Registration{SkillID: "skill-music.openvoiceos", AppID: appID, Provider: "spotify", PKCE: true, Scope: "user-read-playback-state"}
	if mod != nil {
		mod(&r)
	}
	if _, err := env.e.Register(context.Background(), r); err != nil {
		t.Fatalf("Register() = %v", err)
	}
	f, _, err := env.e.StartSetup(context.Background(), r.SkillID, appID)
	if err != nil {
		t.Fatalf("StartSetup() = %v", err)
	}
	return env.e.StartLink(f), f
}

func (env *setupEnv) app(t testing.TB, appID string) *oauth.App {
	t.Helper()
	app, err := env.e.App("skill-music.openvoiceos", appID)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// post posts form to link with the headers a browser sends for the page's
// own form unless headers says otherwise, and returns the answer,
// redirects not followed.
func post(t testing.TB, link string, form url.Values, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, link, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

var (
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	boxRE    = regexp.MustCompile(`<code id="redirect_uri">([^<]*)</code>`)
	clientRE = regexp.MustCompile(`<input id="client_id"[^>]*value="([^"]*)"`)
)

// TestSetupPage: the setup page names the service and the skill, links to
// the provider's console, says what to set there with the exact redirect
// URI the engine gives, and carries the setup's key; its only script is
// the one its Content-Security-Policy allows by hash; it is never cached,
// framed or sent as a Referer elsewhere.
func TestSetupPage(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t, "en")
	link, f := env.setup(t, "music", nil)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	body := b.String()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the setup link: %d", resp.StatusCode)
	}
	for _, w := range []string{"Connect Spotify", "skill-music.openvoiceos", "Create app", "Redirect URIs", "Web API", "Client ID", "Client secret"} {
		if !strings.Contains(text(body), w) {
			t.Errorf("the page does not say %q:\n%s", w, text(body))
		}
	}
	if !strings.Contains(body, `<a href="https://developer.spotify.com/dashboard" target="_blank" rel="noopener noreferrer">`) {
		t.Errorf("no link to Spotify's developer console")
	}
	if m := boxRE.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != env.e.RedirectURI(env.app(t, "music")) || m[1] != "http://127.0.0.1:"+strings.Split(env.url, ":")[2]+"/auth/callback/skill-music.openvoiceos_music" {
		t.Errorf("redirect URI on the page = %q, want the engine's %q", m, env.e.RedirectURI(env.app(t, "music")))
	}
	if !strings.Contains(body, `name="setup" value="`+f.SetupKey.Reveal()+`"`) {
		t.Errorf("the form does not carry the setup's key")
	}
	h := resp.Header
	scripts := scriptRE.FindAllStringSubmatch(body, -1)
	if len(scripts) != 1 {
		t.Fatalf("%d scripts on the page, want the Copy button's", len(scripts))
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src " + hash + ";", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestSetupPagePolicyLetsTheLoginGoOn: the page of an app whose login goes
// to the provider lets its form's redirect go there (browsers hold a
// form's redirects to form-action); a loopback or device app's form goes
// nowhere but the page itself.
func TestSetupPagePolicyLetsTheLoginGoOn(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t, "en")
	tests := []struct {
		appID, provider, login, actions string
	}{
		{"lan", "github", oauth.LoginLAN, "form-action 'self' https://github.com https:"},
		{"loopback", "spotify", oauth.LoginLoopback, "form-action 'self'"},
		{"device", "microsoft", oauth.LoginDevice, "form-action 'self'"},
	}
	for _, tt := range tests {
		link, _ := env.setup(t, tt.appID, func(r *oauth.Registration) { r.Provider, r.Login = tt.provider, tt.login })
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, tt.actions) {
			t.Errorf("%s: Content-Security-Policy %q, want it to end %q", tt.appID, csp, tt.actions)
		}
	}
}

// TestSetupRefusedPosts: a post from another site, with another key, too
// large, after the setup expired, or a second time, is refused with a
// page that says so and saves nothing; one without a client id, or with
// one that cannot be right, brings the form back with the client id as
// typed, and the setup stays open. The secret never comes back in a page
// or reaches the log.
func TestSetupRefusedPosts(t *testing.T) {
	t.Parallel()
	form := func(f *oauth.Flow, clientID string) url.Values {
		return url.Values{"setup": {f.SetupKey.Reveal()}, "client_id": {clientID}, "client_secret": {typedSecret}}
	}
	tests := []struct {
		name    string
		before  func(t *testing.T, env *setupEnv, link string, f *oauth.Flow)
		form    func(f *oauth.Flow) url.Values
		headers map[string]string
		status  int
		says    string
		// open: the setup is still pending afterwards; keptID: the form
		// came back with this client id.
		open   bool
		keptID string
	}{
		{name: "from another site", headers: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, status: http.StatusForbidden, says: "Not sent from", open: true},
		{name: "from another site, an old browser", headers: map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, status: http.StatusForbidden, says: "Not sent from", open: true},
		{name: "from another site on the LAN", headers: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://192.168.1.50"}, status: http.StatusForbidden, says: "Not sent from", open: true},
		{name: "another key", form: func(f *oauth.Flow) url.Values {
			v := form(f, "typed-id")
			v.Set("setup", strings.Repeat("A", 43))
			return v
		}, status: http.StatusForbidden, says: "out of date", open: true},
		{name: "no key", form: func(f *oauth.Flow) url.Values {
			v := form(f, "typed-id")
			v.Del("setup")
			return v
		}, status: http.StatusForbidden, says: "out of date", open: true},
		{name: "too large", form: func(f *oauth.Flow) url.Values {
			v := form(f, "typed-id")
			v.Set("client_secret", strings.Repeat("s", 9<<10))
			return v
		}, status: http.StatusRequestEntityTooLarge, says: "Too much was sent", open: true},
		{name: "expired", before: func(t *testing.T, env *setupEnv, link string, f *oauth.Flow) { env.clk.Add(11 * time.Minute) }, status: http.StatusGone, says: "expired"},
		{name: "replayed", before: func(t *testing.T, env *setupEnv, link string, f *oauth.Flow) {
			if resp, _ := post(t, link, url.Values{"setup": {f.SetupKey.Reveal()}, "client_id": {"first-id"}}, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("the first post: %d, want 303 on to the login", resp.StatusCode)
			}
		}, status: http.StatusConflict, says: "This app is set up"},
		{name: "no client id", form: func(f *oauth.Flow) url.Values { return form(f, "  ") }, status: http.StatusBadRequest, says: "Enter the client ID", open: true},
		{name: "a line break", form: func(f *oauth.Flow) url.Values { return form(f, "typed\nid") }, status: http.StatusBadRequest, says: "cannot be right", open: true, keptID: "typed\nid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t, "en")
			link, f := env.setup(t, "music", nil)
			if tt.before != nil {
				tt.before(t, env, link, f)
			}
			v := form(f, "typed-id")
			if tt.form != nil {
				v = tt.form(f)
			}
			resp, body := post(t, link, v, tt.headers)
			if resp.StatusCode != tt.status || !strings.Contains(text(body), tt.says) {
				t.Errorf("status %d, want %d saying %q:\n%s", resp.StatusCode, tt.status, tt.says, text(body))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want a page", ct)
			}
			if strings.Contains(body, typedSecret) || strings.Contains(env.logs.String(), typedSecret) {
				t.Errorf("the secret came back in the page or reached the log")
			}
			app := env.app(t, "music")
			want := ""
			if tt.name == "replayed" {
				want = "first-id"
			}
			if app.ClientID != want || (want == "" && (app.ClientSecret != "" || app.CredsFromUser)) {
				t.Errorf("client id %q after the refused post, want %q: it saved something", app.ClientID, want)
			}
			_, err := env.e.PendingSetup(context.Background(), f.ID)
			if open := err == nil; open != tt.open {
				t.Errorf("setup pending after the refusal: %v (%v), want %v", open, err, tt.open)
			}
			if tt.keptID != "" {
				if m := clientRE.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != tt.keptID {
					t.Errorf("the form came back with client id %q, want %q", m, tt.keptID)
				}
			}
		})
	}
}

// TestSetupAfterAProblem: the form that came back after a refused post
// saves, with the key it carries, and goes on into the login.
func TestSetupAfterAProblem(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t, "en")
	link, f := env.setup(t, "music", nil)
	_, body := post(t, link, url.Values{"setup": {f.SetupKey.Reveal()}, "client_id": {""}, "client_secret": {typedSecret}}, nil)
	key := regexp.MustCompile(`name="setup" value="([^"]+)"`).FindStringSubmatch(body)
	if key == nil {
		t.Fatalf("no form after a post without client id:\n%s", body)
	}
	resp, _ := post(t, link, url.Values{"setup": {key[1]}, "client_id": {" typed-id "}, "client_secret": {typedSecret}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), oauth.StartPath) {
		t.Fatalf("the post after the problem: %d to %q, want 303 to the loopback login's page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if app := env.app(t, "music"); app.ClientID != "typed-id" || app.ClientSecret != typedSecret || !app.CredsFromUser {
		t.Errorf("saved %q, want the client id without the spaces around it, and the secret, typed by the user", app.ClientID)
	}
}

// setupPageReady is true once a setup page, or what its form led to, has
// loaded.
const setupPageReady = `document.readyState === "complete" && document.querySelector("main h1") ? "shown" : ""`

// TestSetupPageInChromium: in a real browser the Copy button, shown by the
// script that the page's policy allows by hash, copies the redirect URI;
// with scripts off there is no button, and the form still saves and goes
// on into the login.
func TestSetupPageInChromium(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t, "en")
	link, _ := env.setup(t, "music", nil)
	p := browser.Browser(t).Open(t, link)
	p.WaitFor(setupPageReady)
	if got := p.Evaluate(`document.querySelector("button[data-copy]").hidden ? "hidden" : "shown"`); got != "shown" {
		t.Fatalf("the Copy button is %s: the page's script did not run under its policy", got)
	}
	p.Click("button[data-copy]")
	if got := p.WaitFor(`document.querySelector("button[data-copy]").textContent === "Copied" ? String(getSelection()) : ""`); got != env.e.RedirectURI(env.app(t, "music")) {
		t.Errorf("Copy selected %q, want the redirect URI", got)
	}

	off := newSetupEnv(t, "en")
	link, _ = off.setup(t, "music", nil)
	q := browsertest.Open(t, link, "--blink-settings=scriptEnabled=false")
	q.WaitFor(setupPageReady)
	if got := q.Evaluate(`getComputedStyle(document.querySelector("button[data-copy]")).display`); got != "none" {
		t.Errorf("with scripts off the Copy button shows (display %q): it would do nothing", got)
	}
	q.Evaluate(`window.before = true; document.getElementById("client_id").value = "typed-id"; document.getElementById("client_secret").value = "` + typedSecret + `"; document.querySelector('main form button[type="submit"]').click()`)
	if got := q.WaitFor(`!window.before && document.getElementById("url") ? document.querySelector("h1").textContent : ""`); got == "" {
		t.Error("with scripts off the form did not go on to the loopback login's page")
	}
	if app := off.app(t, "music"); app.ClientID != "typed-id" || app.ClientSecret != typedSecret {
		t.Errorf("with scripts off saved %q", app.ClientID)
	}
}

// TestSetupPagesFitAPhone shows the setup pages a person meets on a phone
// of 412 by 915 CSS pixels, in English, German (long words) and
// Portuguese: an app of each kind of login, the form after a refused
// post, the code of a device login after saving, and the link of a used
// setup. Nothing is wider than the screen. With OVOS_OAUTH_SCREENSHOTS
// set, each is saved there as setup-<page>-<lang>.png.
func TestSetupPagesFitAPhone(t *testing.T) {
	t.Parallel()
	p := oauthtest.Start(t, oauthtest.Client{ID: "tv", Secret: "tv-secret"})
	for _, lang := range []string{"en", "de", "pt"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t, lang)
			loopback, _ := env.setup(t, "music", nil)
			lan, _ := env.setup(t, "code", func(r *oauth.Registration) { r.Provider = "github" })
			strava, _ := env.setup(t, "strava", func(r *oauth.Registration) { r.Provider = "strava" })
			custom, _ := env.setup(t, "custom-app", func(r *oauth.Registration) {
				r.Provider, r.AuthEndpoint, r.TokenEndpoint = "", "https://auth.example/authorize", "https://auth.example/token"
			})
			device, deviceFlow := env.setup(t, "tv", func(r *oauth.Registration) {
				r.Provider, r.Login, r.TokenEndpoint, r.DeviceEndpoint, r.TokenAuth = "microsoft", oauth.LoginDevice, p.TokenEndpoint, p.DeviceEndpoint, oauth.TokenAuthBasic
			})
			used, usedFlow := env.setup(t, "used", nil)
			if resp, _ := post(t, used, url.Values{"setup": {usedFlow.SetupKey.Reveal()}, "client_id": {"x"}}, nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("using a setup: %d", resp.StatusCode)
			}

			b := browser.Browser(t).Open(t, "about:blank")
			b.Phone(412, 915)
			look := func(name string) {
				t.Helper()
				b.WaitFor(setupPageReady)
				if w := b.Evaluate(`document.documentElement.scrollWidth > window.innerWidth ? document.documentElement.scrollWidth + " > " + window.innerWidth : ""`); w != "" {
					t.Errorf("%s: the page is wider than the phone (%s px): cut off", name, w)
				}
				if got := b.Evaluate(`document.body.innerText`); strings.Contains(got, "{") || strings.Contains(got, typedSecret) {
					t.Errorf("%s: the page shows a placeholder or the secret:\n%s", name, got)
				}
				b.SaveScreenshot("setup-" + name + "-" + lang)
			}
			for _, pg := range []struct{ name, url string }{
				{"loopback", loopback}, {"lan", lan}, {"strava", strava}, {"custom", custom}, {"device", device}, {"used", used},
			} {
				b.Evaluate(`window.before = true`)
				b.Navigate(pg.url)
				b.WaitFor(`window.before ? "" : "loaded"`)
				look(pg.name)
			}
			// The form again after a refused post: what is wrong said, the
			// client id kept, the secret not.
			b.Evaluate(`window.before = true`)
			b.Navigate(loopback)
			b.WaitFor(`window.before ? "" : "loaded"`)
			b.WaitFor(setupPageReady)
			b.Evaluate(`window.before = true; document.getElementById("client_id").value = "typed\u0001id"; document.getElementById("client_secret").value = "` + typedSecret + `"; document.querySelector('main form button[type="submit"]').click()`)
			b.WaitFor(`window.before ? "" : "loaded"`)
			look("problem")
			if b.Evaluate(`document.querySelector(".problem") ? "yes" : ""`) == "" || b.Evaluate(`document.getElementById("client_secret").value`) != "" {
				t.Error("after a refused post: no problem said, or the secret given back")
			}
			// A device login's code, after saving its setup.
			b.Evaluate(`window.before = true`)
			b.Navigate(device)
			b.WaitFor(`window.before ? "" : "loaded"`)
			b.WaitFor(setupPageReady)
			b.Evaluate(`window.before = true; document.getElementById("client_id").value = "tv"; document.getElementById("client_secret").value = "tv-secret"; document.querySelector('main form button[type="submit"]').click()`)
			b.WaitFor(`!window.before && document.getElementById("user_code") ? "code" : ""`)
			look("device_code")
			if _, err := env.e.PendingSetup(context.Background(), deviceFlow.ID); err == nil {
				t.Error("the device app's setup is still pending after saving")
			}
		})
	}
}

// FuzzSetupPost: whatever a setup's form carries, the answer is a page or
// the way on into the login, never a crash; the secret never comes back or
// reaches the log; and only the setup's own key with a client id that can
// be one saves anything, that client id as typed less the spaces around it.
func FuzzSetupPost(f *testing.F) {
	f.Add("typed-id", "secret", true, "")
	f.Add("", "", true, "")
	f.Add("  ", "x", false, "x")
	f.Add("a\x00b", "s\nt", true, "")
	f.Add(strings.Repeat("x", 3000), "", true, "")
	f.Add("\xff\xfe", "\u2028", true, "")
	env := newSetupEnv(f, "en")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, clientID, secret string, rightKey bool, key string) {
		if strings.Contains(clientID, "S3CR3T") {
			t.Skip("the client id holds the secret's marker: a client id may be given back")
		}
		link, fl := env.setup(t, "music", nil)
		t.Cleanup(func() { env.e.Unregister(ctx, "skill-music.openvoiceos", "music") })
		if rightKey {
			key = fl.SetupKey.Reveal()
		}
		// A marker no page holds, to find the secret by.
		secret = "S3CR3T-" + secret
		resp, body := post(t, link, url.Values{"setup": {key}, "client_id": {clientID}, "client_secret": {secret}}, nil)
		switch resp.StatusCode {
		case http.StatusSeeOther, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.StatusCode != http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("status %d without a page", resp.StatusCode)
		}
		if strings.Contains(body, "S3CR3T-") || strings.Contains(env.logs.String(), "S3CR3T-") {
			t.Fatal("the secret came back or reached the log")
		}
		app := env.app(t, "music")
		if resp.StatusCode == http.StatusSeeOther {
			if app.ClientID != strings.TrimSpace(clientID) || app.ClientSecret.Reveal() != strings.TrimSpace(secret) {
				t.Errorf("saved %q, want %q", app.ClientID, strings.TrimSpace(clientID))
			}
		} else if !app.NeedsCreds() {
			t.Errorf("a refused post (%d) saved %q", resp.StatusCode, app.ClientID)
		}
	})
}
