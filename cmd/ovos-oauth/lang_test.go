package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

// TestPagesInLang: the daemon's pages speak its lang (mycroft.conf's, or
// here --lang), English for a language it has no messages in.
func TestPagesInLang(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	tests := []struct{ lang, htmlLang, title string }{
		{"de-DE", "de", "Seite nicht gefunden"},
		{"eo", "en", "Page not found"},
	}
	for _, tt := range tests {
		d := startDaemon(t, busURL, t.TempDir(), "--lang", tt.lang)
		status, body := get(t, d.baseURL+"/nothing")
		if status != http.StatusNotFound || !strings.Contains(body, "<h1>"+tt.title+"</h1>") || !strings.Contains(body, `<html lang="`+tt.htmlLang+`">`) {
			t.Errorf("lang %s: status %d, page\n%s\nwant 404 with <h1>%s</h1> in lang %s", tt.lang, status, body, tt.title, tt.htmlLang)
		}
	}
}

// TestShortLinkAfterLogin: the whole way with the real provider. The
// success page names the app and its skill; the QR's short link opened
// again once the login finished says so with a tick, not "unknown".
func TestShortLinkAfterLogin(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "notes")
	s.register(t, "notes", "web", secret, nil)
	link := noErr(t, s.skill.request(t, "oauth.get", app("notes"), "oauth.url"))["link"].(string)
	resp, body := s.p.Login(t, link)
	// The page keeps a skill id on one line: its hyphens do not break.
	shown := strings.ReplaceAll(body, "\u2011", "-")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You&#39;re logged in") || !strings.Contains(shown, "<strong>notes</strong>") || !strings.Contains(shown, "<strong>"+skillID+"</strong>") {
		t.Fatalf("login: status %d, page\n%s\nwant the success page naming the app and its skill", resp.StatusCode, body)
	}
	s.skill.Expect(t, "oauth.token.response."+skillID+"_notes")
	status, body := get(t, link)
	if status != http.StatusOK || !strings.Contains(body, "<h1>This login is finished</h1>") || !strings.Contains(body, "&#10003;") {
		t.Errorf("the short link again: status %d, page\n%s\nwant 200, ✓, This login is finished", status, body)
	}
}
