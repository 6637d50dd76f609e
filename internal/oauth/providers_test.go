package oauth_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

var update = flag.Bool("update", false, "rewrite docs/PROVIDERS.md and the README's provider table from the provider table (make providers)")

// TestProvidersDoc: docs/PROVIDERS.md, the how-to of each provider, is the
// one the provider table makes with the setup page's sentences in
// English: one source for both. With -update it rewrites the file.
func TestProvidersDoc(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "docs", "PROVIDERS.md")
	b, err := os.ReadFile(path)
	if err != nil && !(*update && os.IsNotExist(err)) {
		t.Fatal(err)
	}
	want := providersDoc()
	if *update {
		if want != string(b) {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Log("docs/PROVIDERS.md rewritten")
		}
		return
	}
	if want != string(b) {
		t.Errorf("docs/PROVIDERS.md is not what the provider table makes; run make providers")
	}
}

// readmeRow finds a provider's row in the README's provider table: its
// first cell names the provider in code.
var readmeRow = regexp.MustCompile("(?m)^\\| `([a-z]+)`([^|]*)\\| ([a-z]+) \\| ([^|]*) \\|(.*)$")

// TestREADMEProviders: the README's provider table says, for each known
// provider and no other, its login mode and where and what to set when
// making the app, as the provider table says it. With -update it
// rewrites those cells.
func TestREADMEProviders(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	var names []string
	want := readmeRow.ReplaceAllStringFunc(readme, func(row string) string {
		m := readmeRow.FindStringSubmatch(row)
		p, ok := oauth.KnownProvider(m[1])
		names = append(names, m[1])
		if !ok {
			return row
		}
		return "| `" + p.Name + "`" + m[2] + "| " + p.Login + " | " + readmeHowTo(p) + " |" + m[5]
	})
	for _, p := range oauth.Providers {
		if !slices.Contains(names, p.Name) {
			t.Errorf("the README's provider table has no row for %s", p.Name)
		}
	}
	for _, n := range names {
		if _, ok := oauth.KnownProvider(n); !ok {
			t.Errorf("the README's provider table has a row for %s, which the provider table does not know", n)
		}
	}
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
		t.Errorf("the README's provider table does not say what the provider table does; run make providers")
	}
}

// readmeHowTo is a provider's cell in the README's table: its console, and
// what its default login needs set there, in the console's own words.
func readmeHowTo(p oauth.Provider) string {
	var parts []string
	for _, s := range p.SetupSteps(p.Login) {
		switch uri, hostOnly := s.ShowsRedirect(); {
		case uri:
			parts = append(parts, "**"+s.Value+"** "+readmeRedirect(p.Login, hostOnly))
		case s.Say == i18n.SetupStepChoose || s.Say == i18n.SetupStepTick || s.Say == i18n.SetupStepSwitch:
			parts = append(parts, "**"+s.Value+"**")
		case s.Say == i18n.SetupStepCopyID:
			parts = append(parts, "no secret")
		}
	}
	if p.Console == "" {
		return "nothing: " + strings.Join(append([]string{"the client id is a URL whose host must be the redirect URI's (IndieAuth)"}, parts...), "; ")
	}
	console := "<" + p.Console + ">"
	if len(parts) == 0 {
		return console
	}
	return console + ": " + strings.Join(parts, ", ")
}

// providersDoc is docs/PROVIDERS.md: for every known provider, its rules,
// the steps of making an app at its console for the login mode it uses
// (and those that differ for the other kind of login it allows), as the
// setup page says them in English.
func providersDoc() string {
	en := i18n.For(i18n.Fallback)
	var b strings.Builder
	b.WriteString("# Making your app at each provider\n\n" +
		"Each household makes its own app at the provider (Spotify allows one\n" +
		"client id per developer and 5 users per development app; the others work\n" +
		"the same way). While an app has no client id, its QR code opens a setup\n" +
		"page on the phone that says what follows, in the user's language, with\n" +
		"the app's exact redirect URI and a Copy button; it takes the client id\n" +
		"and secret (the secret may stay empty) and goes straight on into the\n" +
		"login. `ovos-oauth login SKILL_ID APP_ID` prints the same page's link;\n" +
		"`--client-id` and `--client-secret` give them on the command line\n" +
		"instead.\n\n" +
		"Below, `36536` is the port of `listen`. This file is made from the\n" +
		"provider table (internal/oauth/providers.go) by `make providers`: edit\n" +
		"the table, not this file.\n")
	for _, p := range oauth.Providers {
		fmt.Fprintf(&b, "\n## %s\n\n`provider: %s`, %s login. %s\n\n", p.Title, p.Name, p.Login, p.Note)
		steps := p.SetupSteps(p.Login)
		writeSteps(&b, en, p, p.Login, steps)
		if p.Instance || p.Login != oauth.LoginDevice && p.DeviceEndpoint == "" {
			continue
		}
		other := oauth.LoginDevice
		if p.Login == oauth.LoginDevice {
			other = oauth.LoginRelay
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
	return b.String()
}

// writeSteps writes steps as a numbered list, the redirect URI of a login
// in the login mode where a step gives it.
func writeSteps(b *strings.Builder, en *i18n.Printer, p oauth.Provider, login string, steps []oauth.SetupStep) {
	console := ""
	if p.Console != "" {
		console = "[" + strings.TrimSuffix(strings.TrimPrefix(p.Console, "https://"), "/") + "](" + p.Console + ")"
	}
	bold := func(v string) string {
		if v == "" {
			return ""
		}
		return "**" + v + "**"
	}
	for i, s := range steps {
		text := en.Text(s.Say, "console", console, "value", bold(s.Value), "secret", bold(s.Secret), "service", p.Title)
		if uri, hostOnly := s.ShowsRedirect(); uri {
			text += " " + readmeRedirect(login, hostOnly)
		}
		fmt.Fprintf(b, "%d. %s\n", i+1, text)
	}
}

// readmeRedirect is the redirect URI of an app in a login mode, as the
// docs write it for any app.
func readmeRedirect(login string, hostOnly bool) string {
	switch {
	case login == oauth.LoginRelay:
		return "your relay page's address (`relay_url`)"
	case hostOnly:
		return "`<public_host>`"
	case login == oauth.LoginLoopback:
		return "`http://127.0.0.1:36536/auth/callback/<skill_id>_<app_id>`"
	}
	return "`http://<public_host>:36536/auth/callback/<skill_id>_<app_id>`"
}
