package callback_test

import (
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/callback"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// get answers one GET of target and returns its status and body.
func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

// paste posts a paste of pasted to the loopback login's page.
func paste(t *testing.T, h http.Handler, flow, pasted string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/auth/start/"+flow, strings.NewReader(url.Values{"url": {pasted}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var (
	markRE  = regexp.MustCompile(`<div class="mark"[^>]*>([^<]*)</div>`)
	titleRE = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	fieldRE = regexp.MustCompile(`(?s)<textarea[^>]*>(.*?)</textarea>`)
)

// text is what a page's body says, its markup dropped, entities decoded,
// a non-breaking hyphen read as a hyphen.
func text(body string) string {
	_, body, _ = strings.Cut(body, "<body>")
	body = html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
	return strings.Join(strings.Fields(strings.ReplaceAll(body, "\u2011", "-")), " ")
}

// TestSuccessNamesTheService: the success page says which service the
// device can now use, and for which skill: the provider's name, else the
// app id.
func TestSuccessNamesTheService(t *testing.T) {
	t.Parallel()
	h := newServer(t, fakeEngine{}).Handler()
	tests := []struct {
		name, target string
		want         []string
	}{
		{"a known provider", "/auth/callback/skill_app?state=ok&code=c", []string{"You're logged in", "Spotify", "skill-music.openvoiceos"}},
		{"no provider", "/auth/callback/skill_app?state=custom&code=c", []string{"You're logged in", "custom-app", "skill-custom"}},
	}
	for _, tt := range tests {
		status, body := get(t, h, tt.target)
		if status != http.StatusOK {
			t.Errorf("%s: status %d, want 200", tt.name, status)
		}
		for _, w := range tt.want {
			if !strings.Contains(text(body), w) {
				t.Errorf("%s: the page does not say %q:\n%s", tt.name, w, text(body))
			}
		}
	}
}

// TestFinishedLogin: a link or an answer of a login that finished, loaded
// again, says that it finished, with a tick, not a cross beside "already".
func TestFinishedLogin(t *testing.T) {
	t.Parallel()
	h := newServer(t, fakeEngine{}).Handler()
	for _, target := range []string{"/auth/start/" + finishedFlow, "/auth/callback/skill_app?state=finished&code=c"} {
		status, body := get(t, h, target)
		mark := markRE.FindStringSubmatch(body)
		title := titleRE.FindStringSubmatch(body)
		if status != http.StatusOK || mark == nil || html.UnescapeString(mark[1]) != "✓" || title == nil || title[1] != "This login is finished" {
			t.Errorf("GET %s: status %d, mark %q, title %q; want 200, ✓, This login is finished", target, status, mark, title)
		}
		if !strings.Contains(text(body), "close this page") {
			t.Errorf("GET %s: the page does not say the user may close it:\n%s", target, text(body))
		}
	}
}

// TestExpiredLink: an expired link says it expired and what to do.
func TestExpiredLink(t *testing.T) {
	t.Parallel()
	h := newServer(t, fakeEngine{}).Handler()
	status, body := get(t, h, "/auth/start/"+expiredFlow)
	if title := titleRE.FindStringSubmatch(body); status != http.StatusGone || title == nil || title[1] != "This link has expired" {
		t.Errorf("status %d, title %q; want 410, This link has expired", status, title)
	}
	if !strings.Contains(text(body), "start the login again") {
		t.Errorf("the page does not say to start again:\n%s", text(body))
	}
}

// TestMistypedPaste: a paste that finishes nothing brings the form back,
// 400, saying in plain words what is wrong and keeping what was typed, and
// the login stays open: the right address pasted next finishes it.
func TestMistypedPaste(t *testing.T) {
	t.Parallel()
	const good = "http://127.0.0.1:36536/auth/callback/skill_app?state=ok&code=c"
	tests := []struct {
		name, pasted, says string
	}{
		{"empty", "   ", "Nothing was pasted"},
		{"not a URL", "hello there", "not the address your phone ended on"},
		{"another site", "https://example.com/?state=ok&code=c", "not the address your phone ended on"},
		{"cut short", "http://127.0.0.1:36536/auth/callback/skill_app?state=o", "incomplete"},
		{"no state", "http://127.0.0.1:36536/auth/callback/skill_app?code=c", "incomplete"},
		{"another app's", "http://127.0.0.1:36536/auth/callback/other_app?state=ok&code=c", "another app"},
		{"another login's", "http://127.0.0.1:36536/auth/callback/skill_app?state=other&code=c", "another login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newServer(t, fakeEngine{}).Handler()
			status, body := paste(t, h, loopbackFlow, tt.pasted)
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", status)
			}
			if !strings.Contains(text(body), tt.says) {
				t.Errorf("the page does not say %q:\n%s", tt.says, text(body))
			}
			field := fieldRE.FindStringSubmatch(body)
			if field == nil {
				t.Fatalf("no form on the page:\n%s", body)
			}
			if got := html.UnescapeString(field[1]); got != strings.TrimSpace(tt.pasted) {
				t.Errorf("the field holds %q, want what was pasted, %q", got, strings.TrimSpace(tt.pasted))
			}
			if status, body := paste(t, h, loopbackFlow, good); status != http.StatusOK || !strings.Contains(body, "logged in") {
				t.Errorf("the right address next: status %d, want 200 and logged in", status)
			}
		})
	}
}

// TestPagesInTheUsersLanguage: the pages speak the printer's language,
// German for de-de, English for a language without messages.
func TestPagesInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	de := i18n.Shipped().Messages("de")
	tests := []struct {
		lang, htmlLang, title, notFound string
	}{
		{"de-de", "de", de[i18n.PageSuccessTitle], de[i18n.PageNotFoundTitle]},
		{"pt-BR", "pt", i18n.Shipped().Messages("pt")[i18n.PageSuccessTitle], i18n.Shipped().Messages("pt")[i18n.PageNotFoundTitle]},
		{"gl-es", "en", "You're logged in", "Page not found"},
	}
	for _, tt := range tests {
		srv := callback.New(fakeEngine{}, slog.New(slog.DiscardHandler))
		srv.Printer = i18n.For(tt.lang)
		h := srv.Handler()
		_, body := get(t, h, "/auth/callback/skill_app?state=ok&code=c")
		if title := titleRE.FindStringSubmatch(body); title == nil || html.UnescapeString(title[1]) != tt.title {
			t.Errorf("%s: success title %q, want %q", tt.lang, title, tt.title)
		}
		if !strings.Contains(body, `<html lang="`+tt.htmlLang+`">`) {
			t.Errorf("%s: the page is not marked lang=%q", tt.lang, tt.htmlLang)
		}
		_, body = get(t, h, "/nothing")
		if title := titleRE.FindStringSubmatch(body); title == nil || html.UnescapeString(title[1]) != tt.notFound {
			t.Errorf("%s: not-found title %q, want %q", tt.lang, title, tt.notFound)
		}
	}
}
