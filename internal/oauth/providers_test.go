package oauth_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestProviderSetupSteps: every known provider says where its console is
// and how to make an app there, for each kind of login it may use: a
// login with a redirect registers the redirect URI, a device login does
// not; every app ends with what to copy. Each step's sentence, in every
// language, is filled whole by what the step gives.
func TestProviderSetupSteps(t *testing.T) {
	t.Parallel()
	cat := i18n.Shipped()
	en := cat.Messages(i18n.Fallback)
	kinds := []string{oauth.LoginLAN, oauth.LoginDevice}
	providers := append(slices.Clone(oauth.Providers), oauth.Provider{})
	for _, p := range providers {
		name := p.Name
		if name == "" {
			name = "(none)"
		}
		if p.Name != "" && !p.Instance && !strings.HasPrefix(p.Console, "https://") {
			t.Errorf("%s: console %q, want an https address", name, p.Console)
		}
		for _, login := range kinds {
			if login == oauth.LoginDevice && p.Name != "" && p.DeviceEndpoint == "" {
				continue // no device grant there
			}
			steps := p.SetupSteps(login)
			if len(steps) == 0 {
				t.Errorf("%s, %s login: no steps", name, login)
				continue
			}
			redirects := 0
			for _, s := range steps {
				if uri, _ := s.ShowsRedirect(); uri {
					redirects++
				}
				for _, ph := range i18n.Placeholders(en[s.Say]) {
					given := map[string]bool{"{console}": p.Console != "", "{value}": s.Value != "", "{secret}": s.Secret != "", "{service}": true}
					if !given[ph] {
						t.Errorf("%s, %s login: %s has %s, which the step does not give", name, login, s.Say, ph)
					}
				}
				for _, lang := range cat.Languages() {
					text := cat.Printer(lang).Text(s.Say, "console", "C", "value", "V", "secret", "S", "service", "X")
					if strings.ContainsAny(text, "{}") || text == string(s.Say) {
						t.Errorf("%s, %s login, %s: %s is %q", name, login, lang, s.Say, text)
					}
				}
			}
			want := 1
			if login == oauth.LoginDevice || p.Instance {
				want = 0
			}
			if redirects != want {
				t.Errorf("%s, %s login: %d steps give the redirect URI, want %d", name, login, redirects, want)
			}
			if last := steps[len(steps)-1].Say; !p.Instance && !slices.Contains([]i18n.Key{i18n.SetupStepCopy, i18n.SetupStepCopyID, i18n.SetupStepGenericCopy}, last) {
				t.Errorf("%s, %s login: the last step is %s, want what to copy", name, login, last)
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite README.md's provider how-to from the provider table (make providers-readme)")

// The lines around the README's provider how-to.
const (
	howToBegin = "<!-- Made from the provider table (internal/oauth/providers.go) by make providers-readme: edit the table, not this. -->\n"
	howToEnd   = "<!-- End of the provider how-to. -->\n"
)

// TestREADMEProviders: the README's how-to of each provider is the one
// the provider table makes, with the sentences of the setup page in
// English: one source for both. With -update it rewrites the README.
func TestREADMEProviders(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	before, rest, ok1 := strings.Cut(readme, howToBegin)
	_, after, ok2 := strings.Cut(rest, howToEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README.md has no provider how-to between %q and %q", howToBegin, howToEnd)
	}
	want := before + howToBegin + providerHowTo() + howToEnd + after
	if *update {
		if want != readme {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("README.md rewritten")
		}
		return
	}
	if want != readme {
		t.Errorf("README.md's provider how-to is not the provider table's; run make providers-readme")
	}
}

// providerHowTo is the README's how-to of every known provider: its rules,
// the steps of making an app at its console for the login mode it uses
// (and those that differ for the other kind of login it allows), and
// where the client id goes.
func providerHowTo() string {
	en := i18n.For(i18n.Fallback)
	var b strings.Builder
	for _, p := range oauth.Providers {
		fmt.Fprintf(&b, "\n#### %s\n\n`provider: %s`, %s login. %s\n\n", p.Title, p.Name, p.Login, p.Note)
		steps := p.SetupSteps(p.Login)
		writeSteps(&b, en, p, p.Login, steps)
		other := oauth.LoginDevice
		if p.Login == oauth.LoginDevice {
			other = oauth.LoginRelay
		}
		if p.Login != oauth.LoginDevice && p.DeviceEndpoint == "" || p.Instance {
			continue
		}
		var differ []oauth.SetupStep
		for _, s := range p.SetupSteps(other) {
			if !slices.Contains(steps, s) {
				differ = append(differ, s)
			}
		}
		fmt.Fprintf(&b, "\nWith `login: %s` instead, the steps that differ:\n\n", other)
		writeSteps(&b, en, p, other, differ)
	}
	b.WriteString("\n")
	return b.String()
}

// writeSteps writes steps as a numbered list, the redirect URI of a login
// in the login mode where a step gives it.
func writeSteps(b *strings.Builder, en *i18n.Printer, p oauth.Provider, login string, steps []oauth.SetupStep) {
	console := ""
	if p.Console != "" {
		console = "[" + strings.TrimSuffix(strings.TrimPrefix(p.Console, "https://"), "/") + "](" + p.Console + ")"
	}
	for i, s := range steps {
		bold := func(v string) string {
			if v == "" {
				return ""
			}
			return "**" + v + "**"
		}
		text := en.Text(s.Say, "console", console, "value", bold(s.Value), "secret", bold(s.Secret), "service", p.Title)
		if uri, hostOnly := s.ShowsRedirect(); uri {
			text += " " + readmeRedirect(login, hostOnly)
		}
		fmt.Fprintf(b, "%d. %s\n", i+1, text)
	}
}

// readmeRedirect is the redirect URI of an app in a login mode, as the
// README writes it for any app.
func readmeRedirect(login string, hostOnly bool) string {
	switch {
	case login == oauth.LoginRelay:
		return "the address of your relay page (`relay_url`, see Hosting the relay page)"
	case hostOnly:
		return "`<public_host>`"
	case login == oauth.LoginLoopback:
		return "`http://127.0.0.1:36536/auth/callback/<skill_id>_<app_id>`"
	}
	return "`http://<public_host>:36536/auth/callback/<skill_id>_<app_id>`"
}
