package config

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// settingErrors are the *SettingErrors in err's tree.
func settingErrors(err error) []*SettingError {
	var out []*SettingError
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*SettingError); ok {
			out = append(out, e)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, err := range u.Unwrap() {
				walk(err)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// TestSettingErrors: a value Load refuses is a *SettingError that says,
// for a program to word it for a person, which setting, where it was set,
// the value (never a secret) and what is wrong; its English text is the
// one the log keeps.
func TestSettingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *testEnv) []string
		want  []SettingError // Err left out
	}{
		{"flag out of range", func(*testEnv) []string { return []string{"--reauth-warning", "30m"} },
			[]SettingError{{Setting: "reauth_warning", From: FromFlag, Source: "--reauth-warning", Value: "30m", Problem: ProblemRange, Want: WantDuration, Min: "1h", Max: "365d"}}},
		{"flag pflag refuses", func(*testEnv) []string { return []string{"--flow-ttl", "soon"} },
			[]SettingError{{Setting: "flow_ttl", From: FromFlag, Source: "--flow-ttl", Value: "soon", Problem: ProblemInvalid, Want: WantDuration}}},
		{"bare number in a config file", func(e *testEnv) []string {
			return []string{"--config", e.write("c.json", `{"flow_ttl": 600}`)}
		}, []SettingError{{Setting: "flow_ttl", From: FromFile, Value: "600ns", Problem: ProblemRange, Want: WantDuration, Min: "1s"}}},
		{"two in the environment", func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_LOG_LEVEL"] = "loud"
			e.vars["OVOS_OAUTH_LISTEN"] = "36536"
			return nil
		}, []SettingError{
			{Setting: "listen", From: FromEnv, Source: "OVOS_OAUTH_LISTEN", Value: "36536", Problem: ProblemInvalid, Want: WantHostPort},
			{Setting: "log_level", From: FromEnv, Source: "OVOS_OAUTH_LOG_LEVEL", Value: "loud", Problem: ProblemInvalid, Want: WantOneOf, Choices: []string{"debug", "info", "warn", "error"}},
		}},
		{"value of the wrong type in a config file", func(e *testEnv) []string {
			return []string{"--config", e.write("c.yaml", "mirror_ovos_utils: maybe\n")}
		}, []SettingError{{Setting: "mirror_ovos_utils", From: FromFile, Value: "maybe", Problem: ProblemInvalid, Want: WantBool}}},
		{"unknown keys", func(e *testEnv) []string {
			return []string{"--config", e.write("c.yaml", "flow_tll: 10m\nlistn: x\n")}
		}, []SettingError{{Setting: "flow_tll, listn", From: FromFile, Problem: ProblemUnknown}}},
		{"argument", func(*testEnv) []string { return []string{"extra"} },
			[]SettingError{{Value: "extra", Problem: ProblemArgument}}},
		{"secret", func(e *testEnv) []string {
			e.vars["OVOS_OAUTH_BUS_SECRET_KEY"] = "enc-BAD-key"
			return nil
		}, []SettingError{{Setting: "bus_secret_key", From: FromEnv, Source: "OVOS_OAUTH_BUS_SECRET_KEY", Hidden: true, Size: 11, Problem: ProblemInvalid, Want: WantAESKey}}},
		{"secret in mycroft.conf", func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"websocket": {"secret_key": "enc-BAD-key"}}`)
			return nil
		}, []SettingError{{Setting: "websocket.secret_key", From: FromFile, Hidden: true, Size: 11, Problem: ProblemInvalid, Want: WantAESKey}}},
		{"bus URL with a password", func(*testEnv) []string { return []string{"--bus-url", "ws://ovos:hunter2@127.0.0.1:8181/core"} },
			[]SettingError{{Setting: "bus_url", From: FromFlag, Source: "--bus-url", Value: "ws://REDACTED@127.0.0.1:8181/core", Problem: ProblemInvalid, Want: WantBusURL}}},
		{"mycroft.conf", func(e *testEnv) []string {
			e.write("etc/mycroft/mycroft.conf", `{"websocket": {"port": "abc"}}`)
			return nil
		}, []SettingError{{Setting: "websocket.port", From: FromFile, Value: "abc", Problem: ProblemInvalid, Want: WantPort}}},
		{"no data directory", func(e *testEnv) []string {
			delete(e.vars, "HOME")
			return nil
		}, []SettingError{
			{Setting: "data_dir", Problem: ProblemEmpty, Want: WantPath, Or: []string{"STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"}},
			{Setting: "secrets_key_file", Problem: ProblemEmpty, Want: WantPath, Or: []string{"data_dir"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			args := tt.setup(e)
			_, err := e.load(args...)
			if err == nil {
				t.Fatalf("load(%q) = nil, want an error", args)
			}
			var got []SettingError
			for _, s := range settingErrors(err) {
				if !strings.Contains(err.Error(), s.Error()) {
					t.Errorf("load(%q) = %q, which lacks its setting's %q", args, err, s)
				}
				g := *s
				g.Err = nil
				if g.From == FromFile {
					g.Source = strings.TrimPrefix(g.Source, e.dir) // the test's folder
				}
				got = append(got, g)
			}
			for i := range tt.want {
				if tt.want[i].From == FromFile {
					tt.want[i].Source = strings.TrimPrefix(sourceOf(t, e, args, tt.want[i].Setting), e.dir)
				}
			}
			if d := cmp.Diff(got, tt.want, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("load(%q) = %q: setting errors (-got +want):\n%s", args, err, d)
			}
			if strings.Contains(err.Error(), "enc-BAD-key") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("load(%q) = %q shows a secret", args, err)
			}
		})
	}
}

// sourceOf is the file a test set setting in: the --config of args, else
// the mycroft.conf it wrote.
func sourceOf(t *testing.T, e *testEnv, args []string, setting string) string {
	if i := slices.Index(args, "--config"); i >= 0 {
		return args[i+1]
	}
	if strings.HasPrefix(setting, "websocket.") {
		return e.path("etc/mycroft/mycroft.conf")
	}
	t.Fatalf("no file sets %s", setting)
	return ""
}

// TestFileErrors: a file of settings that cannot be read, does not parse
// or is not named as one is a *FileError with its path, and the line of a
// mistake where the parser tells it.
func TestFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *testEnv) (args []string, path string)
		want  FileError // Err and Path left out
		is    error
	}{
		{"missing config file", func(e *testEnv) ([]string, string) {
			return []string{"--config", e.path("missing.yaml")}, e.path("missing.yaml")
		}, FileError{Problem: FileUnreadable}, fs.ErrNotExist},
		{"config file named otherwise", func(e *testEnv) ([]string, string) {
			p := e.write("config.toml", "")
			return []string{"--config", p}, p
		}, FileError{Problem: FileName}, nil},
		{"YAML that does not parse", func(e *testEnv) ([]string, string) {
			p := e.write("etc/ovos-oauth/config.yaml", "log_level: info\nlisten: [\n")
			return nil, p
		}, FileError{Problem: FileSyntax, Format: "YAML", Line: 2}, nil},
		{"JSON that does not parse", func(e *testEnv) ([]string, string) {
			p := e.write("c.json", "{\n  \"listen\": \"x\",\n}\n")
			return []string{"--config", p}, p
		}, FileError{Problem: FileSyntax, Format: "JSON", Line: 3}, nil},
		{"mycroft.conf that does not parse", func(e *testEnv) ([]string, string) {
			p := e.write("home/.config/mycroft/mycroft.conf", "{\n\n  \"websocket\": {\"port\": 8181,}\n}")
			return nil, p
		}, FileError{Problem: FileSyntax, Format: "JSON", Line: 3}, nil},
		{"mycroft.conf that is a folder", func(e *testEnv) ([]string, string) {
			e.write("etc/mycroft/mycroft.conf/x", "")
			return nil, e.path("etc/mycroft/mycroft.conf")
		}, FileError{Problem: FileUnreadable}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			args, path := tt.setup(e)
			_, err := e.load(args...)
			fe, ok := errors.AsType[*FileError](err)
			if !ok {
				t.Fatalf("load(%q) = %v, want a *FileError", args, err)
			}
			got := *fe
			got.Err = nil
			want := tt.want
			want.Path = path
			if got != want {
				t.Errorf("load(%q) = %q: %+v, want %+v", args, err, got, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("load(%q) = %v, want it to match %v", args, err, tt.is)
			}
		})
	}
}
