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
		// Settings that do not load: the command says why, in English.
		{[]string{"--lang", "not a tag"}, ""},
		{[]string{"--config", e.path("missing.yaml")}, ""},
		{[]string{"--lang"}, "pt-PT"},
	}
	for _, tt := range tests {
		if got := e.loader().lang(tt.args, e.getenv); got != tt.want {
			t.Errorf("lang(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
