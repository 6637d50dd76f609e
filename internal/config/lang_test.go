package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestLoadHelpInLang: serve's --help, its flags' descriptions too, speaks
// the language of the settings: --lang wherever it stands, or
// $OVOS_OAUTH_LANG, a config file's lang, mycroft.conf's lang.
func TestLoadHelpInLang(t *testing.T) {
	t.Parallel()
	tests := map[string]func(e *testEnv) []string{
		"flag after --help": func(*testEnv) []string { return []string{"--help", "--lang", "de"} },
		"flag with =":       func(*testEnv) []string { return []string{"--lang=de-DE", "-h"} },
		"environment": func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_LANG"] = "de-de"
			return []string{"--help"}
		},
		"config file": func(e *testEnv) []string {
			return []string{"--config", e.write("conf.yaml", "lang: de\n"), "--help"}
		},
		"mycroft.conf": func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"lang": "de-de"}`)
			return []string{"--help"}
		},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			var stderr bytes.Buffer
			_, err := e.loader().load(setup(e), e.getenv, &stderr)
			if !errors.Is(err, ErrHelp) {
				t.Fatalf("load() error = %v, want ErrHelp", err)
			}
			usage := stderr.String()
			for _, w := range []string{"Aufruf: ovos-oauth serve [Optionen]", "Jede Option ist auch ein Schlüssel der Konfigurationsdatei", "\nOptionen:\n",
				"wie lange eine laufende Anmeldung gültig bleibt", "--data-dir Verzeichnis", "Tokens in die JSON-Dateien von ovos_utils spiegeln"} {
				if !strings.Contains(usage, w) {
					t.Errorf("usage lacks %q:\n%s", w, usage)
				}
			}
			for _, w := range []string{"Usage:", "Flags:", "how long a pending login stays valid"} {
				if strings.Contains(usage, w) {
					t.Errorf("usage has the English %q:\n%s", w, usage)
				}
			}
		})
	}
}

// TestLang: the language a command speaks before it parses its flags, as
// Load would find it from --config, --lang and the environment alone.
func TestLang(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	conf := e.write("conf.yaml", "lang: it-it\n")
	e.write("etc/mycroft/mycroft.conf", `{"lang": "pt-PT"}`)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "pt-PT"},
		{[]string{"--skill", "x", "--lang", "de"}, "de"},
		{[]string{"--lang=ca-es", "--timeout", "1s"}, "ca-es"},
		{[]string{"--config", conf}, "it-it"},
		{[]string{"--config=" + conf, "--lang", "nl"}, "nl"},
		{[]string{"--", "--lang", "de"}, "pt-PT"},
		// Settings that do not load: the command says why in the first
		// language a source sets that is one.
		{[]string{"--lang", "not a tag"}, "pt-PT"},
		{[]string{"--config", e.path("missing.yaml")}, "pt-PT"},
		{[]string{"--lang"}, "pt-PT"},
	}
	for _, tt := range tests {
		if got := e.loader().lang(tt.args, e.getenv); got != tt.want {
			t.Errorf("lang(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// TestLangOfSettingsThatDoNotLoad: settings that do not load are told in
// their language all the same: the lang of the first source, in Load's
// order, that sets one, each read on its own.
func TestLangOfSettingsThatDoNotLoad(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup func(e *testEnv) []string
		want  string
	}{
		"bad value beside lang in the config file": {func(e *testEnv) []string {
			return []string{"--config", e.write("conf.yaml", "lang: it-it\nflow_ttl: 5\n")}
		}, "it-it"},
		"unknown key in the config file": {func(e *testEnv) []string {
			e.write("etc/ovos-oauth/config.yaml", "lang: nl\nflow_tll: 10m\n")
			return nil
		}, "nl"},
		"user's config file over the system's": {func(e *testEnv) []string {
			e.write("etc/ovos-oauth/config.yaml", "lang: nl\n")
			e.write("home/.config/ovos-oauth/config.yaml", "lang: es\nlisten: nonsense\n")
			return nil
		}, "es"},
		"config file that does not parse, mycroft.conf": {func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"lang": "ca-es"}`)
			return []string{"--config", e.write("conf.yaml", "lang: [\n")}
		}, "ca-es"},
		"bad port in mycroft.conf": {func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"lang": "de-de", "websocket": {"port": "abc"}}`)
			return nil
		}, "de-de"},
		"user's mycroft.conf over the system's": {func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"lang": "de-de"}`)
			e.write("home/.config/mycroft/mycroft.conf", "// OVOS's comment\n{\"lang\": \"fr-fr\", \"websocket\": {\"host\": \"a b\"}}")
			return nil
		}, "fr-fr"},
		"environment over the files": {func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_LANG"] = "pt-br"
			e.vars["OVOS_OAUTH_LISTEN"] = "nonsense"
			e.write("etc/mycroft/mycroft.conf", `{"lang": "de-de"}`)
			return nil
		}, "pt-br"},
		"flag over the environment": {func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_LANG"] = "pt-br"
			e.vars["OVOS_OAUTH_LISTEN"] = "nonsense"
			return []string{"--lang", "it"}
		}, "it"},
		"no lang anywhere": {func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_LISTEN"] = "nonsense"
			return nil
		}, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			args := tt.setup(e)
			if _, err := e.loader().load(args, e.getenv, &bytes.Buffer{}); err == nil {
				t.Fatalf("load(%q) = nil, want settings that do not load", args)
			}
			if got := e.loader().lang(args, e.getenv); got != tt.want {
				t.Errorf("lang(%q) = %q, want %q", args, got, tt.want)
			}
		})
	}
}
