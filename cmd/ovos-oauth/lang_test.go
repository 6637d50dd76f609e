package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
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

// TestCLIInLang: the CLI's human output speaks mycroft.conf's lang, as
// the daemon's pages do: its status table, and its errors.
func TestCLIInLang(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mycroft.conf")
	if err := os.WriteFile(conf, []byte(`{"lang": "de-de"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": conf, "XDG_CONFIG_DIRS": t.TempDir()}
	cli := func(args ...string) (string, error) {
		var stdout, stderr syncBuffer
		err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
		return stdout.String(), err
	}
	if _, err := cli("status", "--bus-url", "ws://127.0.0.1:1/core", "--timeout", "300ms"); err == nil || !strings.Contains(err.Error(), "ist innerhalb von 300ms nicht erreichbar") {
		t.Errorf("status without a bus: %v, want the German error", err)
	}

	s := newSetup(t, map[string]string{"web": secret}, "notes")
	s.register(t, "notes", "web", secret, nil)
	out, err := cli("status", "--bus-url", s.d.busURL)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`APP +ANMELDUNG +BERECHTIGT +LÄUFT AB +NÄCHSTE ERNEUERUNG +ANMELDUNG ENDET +BRAUCHT\n`).MatchString(out) ||
		!regexp.MustCompile(`lan +nein +- +- +- +eine Anmeldung \(ovos-oauth login `+regexp.QuoteMeta(skillID)+` notes\)`).MatchString(out) {
		t.Errorf("status:\n%s\nwant the German table", out)
	}

	// Once logged in, its dates are German too: no English month.
	link := noErr(t, s.skill.request(t, "oauth.get", app("notes"), "oauth.url"))["link"].(string)
	if resp, body := s.p.Login(t, link); resp.StatusCode != http.StatusOK {
		t.Fatalf("login: status %d, page\n%s", resp.StatusCode, body)
	}
	s.skill.Expect(t, "oauth.token.response."+skillID+"_notes")
	out, err = cli("status", "--bus-url", s.d.busURL, "--lang", "de-de")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`lan +ja +in [0-9hms]+ \(\d{1,2}\. (Jan\.|Feb\.|März|Apr\.|Mai|Juni|Juli|Aug\.|Sept\.|Okt\.|Nov\.|Dez\.) \d\d:\d\d\)`).MatchString(out) {
		t.Errorf("status after the login:\n%s\nwant its expiry as a German date", out)
	}
}
