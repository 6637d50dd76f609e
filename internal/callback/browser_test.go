package callback_test

import (
	"fmt"
	"html"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/browsertest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// browser is the package's Chromium, for the tests that need no flags of
// their own: one for all, rather than one each.
var browser browsertest.Shared

// TestMain stops the shared browser once the tests have run.
func TestMain(m *testing.M) {
	code := m.Run()
	browser.Stop()
	os.Exit(code)
}

// browse loads url in a tab of b and returns the rendered DOM and a
// screenshot.
func browse(t *testing.T, b *browsertest.Browser, url string) (string, image.Image) {
	t.Helper()
	p := b.Open(t, url)
	return p.DOM(), p.Screenshot(t.Name())
}

// pixels counts the screenshot's pixels close to c.
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, c.R) && near(g>>8, c.G) && near(bl>>8, c.B) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint8) bool { d := int(a) - int(b); return d > -12 && d < 12 }

var (
	green = color.RGBA{0x1a, 0x7f, 0x37, 0xff}
	red   = color.RGBA{0xb4, 0x23, 0x18, 0xff}
)

// TestPagesInChromium renders the pages a person sees on their phone in a
// real browser, with the server's own Content-Security-Policy in force: the
// words are there and the style applies (the mark's colour is painted).
func TestPagesInChromium(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newServer(t, fakeEngine{}).Handler())
	t.Cleanup(srv.Close)
	b := browser.Browser(t)
	tests := []struct {
		name, path string
		words      []string
		mark       color.RGBA
	}{
		{"success", "/auth/callback/skill_app?state=ok&code=CODE-123", []string{"You're logged in", "close this page"}, green},
		{"denied", "/auth/callback/skill_app?state=ok&error=access_denied", []string{"Login refused", "start the login again"}, red},
		{"unknown app", "/auth/callback/nobody_here?state=x&code=y", []string{"Unknown app"}, red},
		{"expired link", "/auth/start/" + expiredFlow, []string{"expired"}, red},
		{"not found", "/nothing", []string{"Page not found"}, red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dom, img := browse(t, b, srv.URL+tt.path)
			for _, w := range tt.words {
				if !strings.Contains(dom, w) && !strings.Contains(dom, strings.ReplaceAll(w, "'", "&#39;")) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(dom, "CODE-123") {
				t.Errorf("page echoes the code")
			}
			if n := pixels(img, tt.mark); n < 50 {
				t.Errorf("%d pixels of the mark's colour: the page's style did not apply", n)
			}
		})
	}
}

// TestPasteFromAnotherSiteInChromium: a page on another site that posts a
// login's address to a loopback login's page, as a real browser sends it
// (Sec-Fetch-Site cross-site, the other site's Origin), gets the refusal,
// and the engine hears nothing; the page's own form, in the same browser,
// finishes the login.
func TestPasteFromAnotherSiteInChromium(t *testing.T) {
	t.Parallel()
	e := &counting{}
	srv := httptest.NewServer(newServer(t, e).Handler())
	defer srv.Close()
	// localhost and 127.0.0.1 are two sites to the browser.
	target := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/auth/start/" + loopbackFlow
	const pasted = "http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s"><input name="url" value="%s"></form><script>document.forms[0].submit()</script>`, html.EscapeString(target), html.EscapeString(pasted))
	}))
	defer evil.Close()

	dom := browsertest.DumpDOM(t, evil.URL, browsertest.VirtualTimeBudget(5*time.Second))
	if !strings.Contains(dom, "on the page") || strings.Contains(dom, "logged in") {
		t.Errorf("a post from another site: the browser shows\n%s\nwant the refusal", dom)
	}
	if n := e.n.Load(); n != 0 {
		t.Errorf("the engine got %d answers from another site's post, want none", n)
	}

	p := browser.Browser(t).Open(t, target)
	p.WaitFor(`document.getElementById("url") ? "ready" : ""`)
	p.Evaluate(`window.pasted = true; document.getElementById("url").value = "` + pasted + `"; document.querySelector('button[type="submit"]').click()`)
	if text := p.WaitFor(`!window.pasted && document.querySelector(".mark, .problem") ? document.querySelector("main").innerText : ""`); !strings.Contains(text, "You're logged in") {
		t.Errorf("the page's own form: the browser shows %q, want the login finished", text)
	}
	if n := e.n.Load(); n != 1 {
		t.Errorf("the engine got %d answers from the page's own form, want 1", n)
	}
}

// TestPagesFitAPhone shows every page a person may meet on a phone of
// 412 by 915 CSS pixels, in English and in German (long words), and checks
// that nothing is cut off: no page is wider than the screen. With
// OVOS_OAUTH_SCREENSHOTS set, each is saved there, to be looked at.
func TestPagesFitAPhone(t *testing.T) {
	t.Parallel()
	b := browser.Browser(t)
	for _, lang := range []string{"en", "de"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, fakeEngine{})
			srv.Printer = i18n.For(lang)
			dev := httptest.NewServer(srv.Handler())
			defer dev.Close()
			// Posts that no page of the server's own makes, from another
			// site (localhost is another site than 127.0.0.1).
			other := strings.Replace(dev.URL, "127.0.0.1", "localhost", 1)
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, `<!doctype html><form method="post" action="%s"><input name="url" value="x"></form><script>document.forms[0].submit()</script>`, html.EscapeString(other+r.URL.Query().Get("to")))
			}))
			defer evil.Close()
			cb := "/auth/callback/skill_app?code=c&state="
			pages := []struct{ name, url string }{
				{"success", dev.URL + cb + "ok"},
				{"success_no_provider", dev.URL + cb + "custom"},
				{"finished", dev.URL + "/auth/start/" + finishedFlow},
				{"finishing", dev.URL + cb + "finishing"},
				{"ended", dev.URL + cb + "ended"},
				{"expired", dev.URL + "/auth/start/" + expiredFlow},
				{"interrupted", dev.URL + cb + "interrupted"},
				{"invalid", dev.URL + cb + "bad"},
				{"mode_changed", dev.URL + cb + "modechanged"},
				{"unknown_app", dev.URL + "/auth/callback/nobody_here?state=x&code=y"},
				{"denied", dev.URL + "/auth/callback/skill_app?state=ok&error=access_denied"},
				{"exchange_failed", dev.URL + cb + "provider"},
				{"unavailable", dev.URL + cb + "unavailable"},
				{"not_an_answer", dev.URL + cb + "elsewhere"},
				{"incomplete", dev.URL + cb + "incomplete"},
				{"internal", dev.URL + cb + "boom"},
				{"not_found", dev.URL + "/nothing"},
				{"too_long", dev.URL + cb + strings.Repeat("x", 9<<10)},
				{"cross_site", evil.URL + "/?to=/auth/start/" + loopbackFlow},
				{"method", evil.URL + "/?to=/auth/callback/skill_app"},
				{"paste", dev.URL + "/auth/start/" + loopbackFlow},
			}
			p := b.Open(t, "about:blank")
			p.Phone(412, 915)
			look := func(name string) {
				t.Helper()
				p.WaitFor(`document.readyState === "complete" && document.querySelector("main h1") ? "shown" : ""`)
				if w := p.Evaluate(`document.documentElement.scrollWidth > window.innerWidth ? document.documentElement.scrollWidth + " > " + window.innerWidth : ""`); w != "" {
					t.Errorf("%s: the page is wider than the phone (%s px): cut off", name, w)
				}
				p.SaveScreenshot("page_" + name + "_" + lang)
			}
			for _, pg := range pages {
				p.Evaluate(`window.before = true`)
				p.Navigate(pg.url)
				p.WaitFor(`window.before ? "" : "loaded"`)
				look(pg.name)
			}
			// The paste page again, after a mistyped paste: the problem
			// shown, and what was pasted in the field.
			p.Evaluate(`window.before = true; document.getElementById("url").value = "http://127.0.0.1:36536/auth/callback/skill_app?state=o"; document.querySelector('button[type="submit"]').click()`)
			p.WaitFor(`window.before ? "" : "loaded"`)
			look("paste_problem")
			if p.Evaluate(`document.querySelector(".problem") ? "yes" : ""`) == "" {
				t.Error("no problem said after a mistyped paste")
			}
		})
	}
}
