package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Keys of each AES size, all different.
const (
	key16 = "k16-0123456789ab"
	key24 = "k24-0123456789abcdefghij"
	key32 = "k32-0123456789abcdefghijklmnopqr"
)

// TestLoadBusSecretKey sets the key from each source and from several at
// once: the strongest wins, and mycroft.conf is the weakest.
func TestLoadBusSecretKey(t *testing.T) {
	t.Parallel()
	type setter func(e *testEnv, key string) []string
	var (
		flag setter = func(_ *testEnv, k string) []string { return []string{"--bus-secret-key", k} }
		env  setter = func(e *testEnv, k string) []string { e.vars["OVOS_OAUTH_BUS_SECRET_KEY"] = k; return nil }
		yaml setter = func(e *testEnv, k string) []string {
			e.write("home/.config/ovos-oauth/config.yaml", fmt.Sprintf("bus_secret_key: %q\n", k))
			return nil
		}
		json setter = func(e *testEnv, k string) []string {
			e.write("etc/ovos-oauth/config.json", fmt.Sprintf(`{"bus_secret_key": %q}`, k))
			return nil
		}
		mycroft setter = func(e *testEnv, k string) []string {
			e.write("etc/mycroft/mycroft.conf", fmt.Sprintf(`{"websocket": {"host": "0.0.0.0", "secret_key": %q}}`, k))
			return nil
		}
		userMycroft setter = func(e *testEnv, k string) []string {
			e.write("home/.config/mycroft/mycroft.conf", fmt.Sprintf(`{"websocket": {"secret_key": %q}}`, k))
			return nil
		}
	)
	type set struct {
		by  setter
		key string
	}
	tests := []struct {
		name string
		sets []set
		want string
	}{
		{"none", nil, ""},
		{"flag", []set{{flag, key16}}, key16},
		{"env", []set{{env, key24}}, key24},
		{"yaml", []set{{yaml, key32}}, key32},
		{"json", []set{{json, key16}}, key16},
		{"mycroft.conf", []set{{mycroft, key24}}, key24},
		{"user mycroft.conf over the system's", []set{{mycroft, key16}, {userMycroft, key32}}, key32},
		{"empty in the user's mycroft.conf turns it off", []set{{mycroft, key16}, {userMycroft, ""}}, ""},
		{"file over mycroft.conf", []set{{mycroft, key16}, {yaml, key24}}, key24},
		{"env over file", []set{{json, key16}, {env, key32}}, key32},
		{"flag over everything", []set{{mycroft, key16}, {json, key24}, {env, key32}, {flag, key16}}, key16},
		{"an empty flag is unset", []set{{mycroft, key24}, {flag, ""}}, key24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			var args []string
			for _, s := range tt.sets {
				args = append(args, s.by(e, s.key)...)
			}
			got, err := e.load(args...)
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if got.BusSecretKey.Reveal() != tt.want {
				t.Errorf("BusSecretKey is %d bytes, want the %d-byte key", len(got.BusSecretKey), len(tt.want))
			}
			if got.BusAllowUnencrypted {
				t.Error("BusAllowUnencrypted = true, want false by default")
			}
			if got.BusURL != "ws://127.0.0.1:8181/core" {
				t.Errorf("BusURL = %q: the key changed the bus's address", got.BusURL)
			}
		})
	}
}

func TestLoadBusAllowUnencrypted(t *testing.T) {
	t.Parallel()
	const withKey = `{"websocket": {"secret_key": "` + key16 + `"}}`
	tests := []struct {
		name    string
		mycroft string // the system mycroft.conf
		user    string // the user's mycroft.conf
		file    string // ovos-oauth's config.yaml
		env     string
		args    []string
		want    bool
	}{
		{name: "default with a key", mycroft: withKey, want: false},
		{name: "default without a key", want: false},
		{name: "mycroft.conf", mycroft: `{"websocket": {"secret_key": "` + key16 + `", "allow_unencrypted": true}}`, want: true},
		{name: "user mycroft.conf", mycroft: withKey, user: `{"websocket": {"allow_unencrypted": true}}`, want: true},
		{name: "user mycroft.conf turns it off", mycroft: `{"websocket": {"allow_unencrypted": true}}`, user: `{"websocket": {"allow_unencrypted": false}}`, want: false},
		{name: "null in mycroft.conf is unset", mycroft: `{"websocket": {"allow_unencrypted": null}}`, want: false},
		{name: "flag", mycroft: withKey, args: []string{"--bus-allow-unencrypted"}, want: true},
		{name: "flag false over mycroft.conf", mycroft: `{"websocket": {"allow_unencrypted": true}}`, args: []string{"--bus-allow-unencrypted=false"}, want: false},
		{name: "env", env: "true", want: true},
		{name: "env false over mycroft.conf", mycroft: `{"websocket": {"allow_unencrypted": true}}`, env: "false", want: false},
		{name: "file", file: "bus_allow_unencrypted: true\n", want: true},
		{name: "file false over mycroft.conf", mycroft: `{"websocket": {"allow_unencrypted": true}}`, file: "bus_allow_unencrypted: false\n", want: false},
		{name: "flag over env", env: "false", args: []string{"--bus-allow-unencrypted"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			if tt.mycroft != "" {
				e.write("etc/mycroft/mycroft.conf", tt.mycroft)
			}
			if tt.user != "" {
				e.write("home/.config/mycroft/mycroft.conf", tt.user)
			}
			if tt.file != "" {
				e.write("etc/ovos-oauth/config.yaml", tt.file)
			}
			if tt.env != "" {
				e.vars["OVOS_OAUTH_BUS_ALLOW_UNENCRYPTED"] = tt.env
			}
			got, err := e.load(tt.args...)
			if err != nil {
				t.Fatalf("load(%q) error = %v", tt.args, err)
			}
			if got.BusAllowUnencrypted != tt.want {
				t.Errorf("BusAllowUnencrypted = %v, want %v", got.BusAllowUnencrypted, tt.want)
			}
		})
	}
}

// TestLoadBusSecretKeyErrors: a key that cannot be an AES key stops the
// start-up with an error that names where it was set, never the key.
func TestLoadBusSecretKeyErrors(t *testing.T) {
	t.Parallel()
	const bad = "BAD-secret-KEY-x" + "y" // 17 bytes
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		files map[string]string
		want  []string
	}{
		{name: "flag", args: []string{"--bus-secret-key", bad}, want: []string{"bus_secret_key: ", "17 bytes", "16, 24 or 32"}},
		{name: "env", env: map[string]string{"OVOS_OAUTH_BUS_SECRET_KEY": bad}, want: []string{"bus_secret_key: ", "17 bytes"}},
		{name: "yaml", files: map[string]string{"etc/ovos-oauth/config.yaml": "bus_secret_key: " + bad + "\n"}, want: []string{"bus_secret_key: ", "17 bytes"}},
		{name: "non-ASCII counts in bytes", args: []string{"--bus-secret-key", "BAD-ééééééééééé"}, want: []string{"bus_secret_key: ", "26 bytes"}},
		{name: "mycroft.conf", files: map[string]string{"etc/xdg/mycroft/mycroft.conf": `{"websocket": {"secret_key": "` + bad + `"}}`},
			want: []string{"websocket.secret_key in ", "etc/xdg/mycroft/mycroft.conf", "17 bytes"}},
		{name: "yaml list", files: map[string]string{"etc/ovos-oauth/config.yaml": "bus_secret_key: [" + bad + "]\n"},
			want: []string{"config.yaml", "bus_secret_key: not a string"}},
		{name: "yaml number", files: map[string]string{"etc/ovos-oauth/config.yaml": "bus_secret_key: 12345678901234567890123\n"},
			want: []string{"bus_secret_key: not a string (quote it)"}},
		{name: "json object", files: map[string]string{"etc/ovos-oauth/config.json": `{"bus_secret_key": {"BAD-secret": 1}}`},
			want: []string{"unknown key bus_secret_key."}},
		{name: "mycroft.conf number", files: map[string]string{"home/.config/mycroft/mycroft.conf": `{"websocket": {"secret_key": 12345678901234567}}`},
			want: []string{"home/.config/mycroft/mycroft.conf", "websocket.secret_key: not a string"}},
		{name: "mycroft.conf list", files: map[string]string{"home/.config/mycroft/mycroft.conf": `{"websocket": {"secret_key": ["` + bad + `"]}}`},
			want: []string{"websocket.secret_key: not a string"}},
		{name: "mycroft.conf allow_unencrypted a string", files: map[string]string{"etc/mycroft/mycroft.conf": `{"websocket": {"allow_unencrypted": "yes"}}`},
			want: []string{"websocket.allow_unencrypted"}},
		{name: "bad allow flag", args: []string{"--bus-allow-unencrypted=maybe"}, want: []string{"bus-allow-unencrypted"}},
		{name: "bad allow env", env: map[string]string{"OVOS_OAUTH_BUS_ALLOW_UNENCRYPTED": "maybe"}, want: []string{"OVOS_OAUTH_BUS_ALLOW_UNENCRYPTED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for rel, content := range tt.files {
				e.write(rel, content)
			}
			for k, v := range tt.env {
				e.vars[k] = v
			}
			_, err := e.load(tt.args...)
			if err == nil {
				t.Fatalf("load(%d args) error = nil, want one containing %q", len(tt.args), tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("load() error = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "BAD-") || strings.Contains(err.Error(), "1234567890") {
				t.Errorf("load() error = %q shows the key", err)
			}
		})
	}
}

// TestLoadBusSecretKeyOverridesBadMycroftKey: a broken key that another
// source overrides does not matter, as in OVOS.
func TestLoadBusSecretKeyOverridesBadMycroftKey(t *testing.T) {
	t.Parallel()
	for name, override := range map[string]func(e *testEnv) []string{
		"user mycroft.conf": func(e *testEnv) []string {
			e.write("home/.config/mycroft/mycroft.conf", `{"websocket": {"secret_key": "`+key32+`"}}`)
			return nil
		},
		"flag": func(*testEnv) []string { return []string{"--bus-secret-key", key32} },
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			e.write("etc/mycroft/mycroft.conf", `{"websocket": {"secret_key": "short"}}`)
			got, err := e.load(override(e)...)
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if got.BusSecretKey.Reveal() != key32 {
				t.Errorf("BusSecretKey is %d bytes, want the 32-byte key", len(got.BusSecretKey))
			}
		})
	}
}

func TestValidateBusSecretKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"", key16, key24, key32} {
		c := validConfig()
		c.BusSecretKey = Secret(k)
		if err := c.Validate(); err != nil {
			t.Errorf("Validate() with a %d-byte key = %v, want nil", len(k), err)
		}
	}
	for _, k := range []string{"x", key16[:15], key16 + "x", key32 + key32} {
		c := validConfig()
		c.BusSecretKey = Secret(k)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "bus_secret_key: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Validate() with a %d-byte key = %v, want one error about bus_secret_key", len(k), err)
		} else if len(k) > 1 && strings.Contains(err.Error(), k) {
			t.Errorf("Validate() error %q shows the key", err)
		}
	}
}

// TestBusSecretKeyNeverPrinted formats and logs a loaded Config and asks for
// --help with the key given: the key shows nowhere.
func TestBusSecretKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	c, err := e.load("--bus-secret-key", key32)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", c, c, c, c.BusSecretKey)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "cfg", c, "key", c.BusSecretKey)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "cfg", c, "key", c.BusSecretKey)
	var usage bytes.Buffer
	if _, err := e.loader().load([]string{"--bus-secret-key", key32, "--help"}, e.getenv, &usage); err == nil {
		t.Fatal("load(--help) error = nil, want ErrHelp")
	}
	if !strings.Contains(usage.String(), "--bus-secret-key") {
		t.Errorf("usage does not mention --bus-secret-key:\n%s", usage.String())
	}
	out.Write(usage.Bytes())
	if strings.Contains(out.String(), key32) {
		t.Errorf("the key shows in:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "REDACTED") {
		t.Errorf("formatting the config shows no REDACTED:\n%s", out.String())
	}
}
