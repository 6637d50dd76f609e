package relay_test

import (
	"html"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// TestNoscript: a browser without JavaScript cannot be told the phone's
// language, so the page says why it does nothing in every language it
// has, English first, each marked with its lang.
func TestNoscript(t *testing.T) {
	t.Parallel()
	page := string(relay.Page())
	_, rest, ok := strings.Cut(page, "<noscript>")
	noscript, _, ok2 := strings.Cut(rest, "</noscript>")
	if !ok || !ok2 {
		t.Fatalf("the page has no <noscript>:\n%s", page)
	}
	cat := i18n.Shipped()
	langs := cat.Languages()
	first := `<p lang="en">` + html.EscapeString(cat.Messages("en")[i18n.RelayNoscript]) + `</p>`
	if !strings.HasPrefix(noscript, first) {
		t.Errorf("<noscript> does not start with the English %s:\n%s", first, noscript)
	}
	for _, lang := range langs {
		p := `<p lang="` + lang + `">` + html.EscapeString(cat.Messages(lang)[i18n.RelayNoscript]) + `</p>`
		if n := strings.Count(noscript, p); n != 1 {
			t.Errorf("<noscript> has %s %d times, want once:\n%s", p, n, noscript)
		}
	}
	if n := strings.Count(noscript, "<p "); n != len(langs) {
		t.Errorf("<noscript> has %d paragraphs, want one per language (%d)", n, len(langs))
	}
}
