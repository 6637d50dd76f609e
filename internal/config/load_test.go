package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// testEnv is a hermetic machine for Load: its environment points every
// system path into a temporary directory, and public host detection sees a
// fake routing table and interfaces.
type testEnv struct {
	t    *testing.T
	dir  string
	vars map[string]string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	return &testEnv{t: t, dir: dir, vars: map[string]string{
		"HOME":                         filepath.Join(dir, "home"),
		"MYCROFT_SYSTEM_CONFIG":        filepath.Join(dir, "etc", "mycroft", "mycroft.conf"),
		"XDG_CONFIG_DIRS":              filepath.Join(dir, "etc", "xdg"),
		"OVOS_OAUTH_SYSTEM_CONFIG_DIR": filepath.Join(dir, "etc", "ovos-oauth"),
		"OVOS_OAUTH_SYSTEM_DATA_DIR":   filepath.Join(dir, "var", "lib", "ovos-oauth"),
	}}
}

func (e *testEnv) getenv(key string) string { return e.vars[key] }

// path is rel inside the test machine.
func (e *testEnv) path(rel string) string { return filepath.Join(e.dir, filepath.FromSlash(rel)) }

// write creates rel inside the test machine and returns its path.
func (e *testEnv) write(rel, content string) string {
	e.t.Helper()
	p := e.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

const (
	fakeRoutes = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
	fakeHost = "192.168.1.20"
)

func (e *testEnv) loader() loader {
	return loader{
		routeFile: e.write("proc/net/route", fakeRoutes),
		interfaces: func() ([]netInterface, error) {
			return []netInterface{
				{name: "lo", flags: net.FlagUp | net.FlagLoopback, addrs: addrs("127.0.0.1", "::1")},
				{name: "eth0", flags: net.FlagUp, addrs: addrs(fakeHost)},
			}, nil
		},
	}
}

func (e *testEnv) load(args ...string) (Config, error) {
	e.t.Helper()
	return e.loader().load(args, e.getenv, io.Discard)
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// defaults is what a testEnv loads with nothing configured.
func (e *testEnv) defaults() Config {
	data := filepath.Join(e.vars["HOME"], ".local", "state", "ovos-oauth")
	return Config{
		BusURL:          "ws://127.0.0.1:8181/core",
		DataDir:         data,
		Listen:          "0.0.0.0:36536",
		PublicHost:      fakeHost,
		QRDir:           filepath.Join("/tmp", "ovos-oauth-"+strconv.Itoa(os.Getuid()), "qr"),
		FlowTTL:         10 * time.Minute,
		ReauthWarning:   14 * 24 * time.Hour,
		LogFormat:       "text",
		LogLevel:        "info",
		MirrorOVOSUtils: true,
		ImportOnStart:   true,
		SecretsKeyFile:  filepath.Join(data, "secrets.key"),
		Lang:            "en-us",
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	got, err := e.load()
	if err != nil {
		t.Fatalf("load() error = %v", err)
	}
	if diff := cmp.Diff(got, e.defaults()); diff != "" {
		t.Errorf("load() (-got +want):\n%s", diff)
	}
	if got, want := got.DBPath(), filepath.Join(e.defaults().DataDir, "ovos-oauth.db"); got != want {
		t.Errorf("DBPath() = %q, want %q", got, want)
	}
}

// TestLoadEmptyEnvironment: with no HOME, STATE_DIRECTORY or XDG_STATE_HOME
// there is nowhere to keep tokens, and Load says so rather than guessing.
func TestLoadEmptyEnvironment(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	delete(e.vars, "HOME")
	_, err := e.load()
	if err == nil || !strings.HasPrefix(err.Error(), "data_dir: ") {
		t.Fatalf("load() error = %v, want one about data_dir", err)
	}
	got, err := e.load("--data-dir", e.path("data"))
	if err != nil {
		t.Fatalf("load(--data-dir) error = %v", err)
	}
	want := e.defaults()
	want.DataDir, want.SecretsKeyFile = e.path("data"), e.path("data/secrets.key")
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("load(--data-dir) (-got +want):\n%s", diff)
	}
}

// TestLoadEachKey sets each key alone from each source.
func TestLoadEachKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		value string
		apply func(c *Config, value string)
	}{
		{"bus_url", "wss://bus.example:8443/core", func(c *Config, v string) { c.BusURL = v }},
		{"embedded_bus", "127.0.0.1:9191", func(c *Config, v string) { c.EmbeddedBus, c.BusURL = v, "ws://127.0.0.1:9191/core" }},
		{"data_dir", "/srv/oauth", func(c *Config, v string) {
			c.DataDir, c.SecretsKeyFile = v, "/srv/oauth/secrets.key"
		}},
		{"listen", "127.0.0.1:8080", func(c *Config, v string) { c.Listen = v }},
		{"public_host", "mycroft.local", func(c *Config, v string) { c.PublicHost = v }},
		{"qr_dir", "/run/ovos-oauth/qr", func(c *Config, v string) { c.QRDir = v }},
		{"flow_ttl", "90s", func(c *Config, _ string) { c.FlowTTL = 90 * time.Second }},
		{"reauth_warning", "7d", func(c *Config, _ string) { c.ReauthWarning = 7 * 24 * time.Hour }},
		{"reauth_warning", "36h", func(c *Config, _ string) { c.ReauthWarning = 36 * time.Hour }},
		{"log_format", "json", func(c *Config, v string) { c.LogFormat = v }},
		{"log_level", "debug", func(c *Config, v string) { c.LogLevel = v }},
		{"mirror_ovos_utils", "false", func(c *Config, _ string) { c.MirrorOVOSUtils = false }},
		{"relay_url", "https://relay.example/ovos/", func(c *Config, v string) { c.RelayURL = v }},
		{"secrets_key_file", "/etc/ovos-oauth/secrets.key", func(c *Config, v string) { c.SecretsKeyFile = v }},
		{"import_on_start", "false", func(c *Config, _ string) { c.ImportOnStart = false }},
		{"metrics_listen", "127.0.0.1:9464", func(c *Config, v string) { c.MetricsListen = v }},
		{"lang", "pt-BR", func(c *Config, v string) { c.Lang = v }},
	}
	sources := []struct {
		name string
		set  func(e *testEnv, key, value string) []string // returns args
	}{
		{"flag", func(_ *testEnv, key, value string) []string {
			return []string{"--" + flagName(key) + "=" + value}
		}},
		{"env", func(e *testEnv, key, value string) []string {
			e.vars["OVOS_OAUTH_"+strings.ToUpper(key)] = value
			return nil
		}},
		{"yaml", func(e *testEnv, key, value string) []string {
			e.write("home/.config/ovos-oauth/config.yaml", key+": "+value+"\n")
			return nil
		}},
		{"json", func(e *testEnv, key, value string) []string {
			if value != "false" {
				value = `"` + value + `"`
			}
			e.write("etc/ovos-oauth/config.json", `{"`+key+`": `+value+"}")
			return nil
		}},
	}
	for _, tt := range tests {
		for _, src := range sources {
			t.Run(tt.key+"/"+src.name, func(t *testing.T) {
				e := newTestEnv(t)
				want := e.defaults()
				tt.apply(&want, tt.value)
				got, err := e.load(src.set(e, tt.key, tt.value)...)
				if err != nil {
					t.Fatalf("load() error = %v", err)
				}
				if diff := cmp.Diff(got, want); diff != "" {
					t.Errorf("load() (-got +want):\n%s", diff)
				}
			})
		}
	}
}

// TestLoadPrecedence sets bus_url and the listen port in every combination
// of sources: the strongest present must win.
func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	// Weakest first.
	layers := []struct {
		name   string
		busURL string
		listen string
		set    func(e *testEnv, busURL, listen string) []string
	}{
		{"mycroft.conf", "ws://mycroft.example:1001/core", "0.0.0.0:2001", func(e *testEnv, _, _ string) []string {
			e.write("etc/mycroft/mycroft.conf", `{"websocket": {"host": "mycroft.example", "port": 1001},
				"PHAL": {"ovos-PHAL-plugin-oauth": {"port": 2001}}}`)
			return nil
		}},
		{"file", "ws://file.example:1002/core", "127.0.0.2:2002", func(e *testEnv, busURL, listen string) []string {
			e.write("etc/ovos-oauth/config.yaml", fmt.Sprintf("bus_url: %s\nlisten: %q\n", busURL, listen))
			return nil
		}},
		{"env", "ws://env.example:1003/core", "127.0.0.3:2003", func(e *testEnv, busURL, listen string) []string {
			e.vars["OVOS_OAUTH_BUS_URL"], e.vars["OVOS_OAUTH_LISTEN"] = busURL, listen
			return nil
		}},
		{"flag", "ws://flag.example:1004/core", "127.0.0.4:2004", func(_ *testEnv, busURL, listen string) []string {
			return []string{"--bus-url", busURL, "--listen", listen}
		}},
	}
	for mask := range 1 << len(layers) {
		var names []string
		wantBus, wantListen := "ws://127.0.0.1:8181/core", "0.0.0.0:36536"
		for i, l := range layers {
			if mask&(1<<i) != 0 {
				names = append(names, l.name)
				wantBus, wantListen = l.busURL, l.listen
			}
		}
		name := strings.Join(names, "+")
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			var args []string
			for i, l := range layers {
				if mask&(1<<i) != 0 {
					args = append(args, l.set(e, l.busURL, l.listen)...)
				}
			}
			got, err := e.load(args...)
			if err != nil {
				t.Fatalf("load(%q) error = %v", args, err)
			}
			if got.BusURL != wantBus {
				t.Errorf("BusURL = %q, want %q", got.BusURL, wantBus)
			}
			if got.Listen != wantListen {
				t.Errorf("Listen = %q, want %q", got.Listen, wantListen)
			}
		})
	}
}

func TestLoadConfigFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		env   map[string]string
		apply func(e *testEnv, c *Config)
	}{
		{
			name: "user over system",
			files: map[string]string{
				"etc/ovos-oauth/config.yaml":         "log_level: debug\nflow_ttl: 5m\nlog_format: json\n",
				"home/.config/ovos-oauth/config.yml": "log_level: warn\nlog_format: \"\"\n",
			},
			apply: func(_ *testEnv, c *Config) { c.LogLevel, c.FlowTTL, c.LogFormat = "warn", 5*time.Minute, "json" },
		},
		{
			name: "json system, yaml user",
			files: map[string]string{
				"etc/ovos-oauth/config.json":          `{"mirror_ovos_utils": false, "public_host": "10.1.1.1"}`,
				"home/.config/ovos-oauth/config.yaml": "public_host: 10.2.2.2\n",
			},
			apply: func(_ *testEnv, c *Config) { c.MirrorOVOSUtils, c.PublicHost = false, "10.2.2.2" },
		},
		{
			name: "XDG_CONFIG_HOME",
			files: map[string]string{
				"xdg/ovos-oauth/config.yaml":          "log_level: error\n",
				"home/.config/ovos-oauth/config.yaml": "log_level: debug\n",
			},
			env:   map[string]string{"XDG_CONFIG_HOME": "xdg"},
			apply: func(_ *testEnv, c *Config) { c.LogLevel = "error" },
		},
		{
			name: "yaml before json in one directory",
			files: map[string]string{
				"etc/ovos-oauth/config.yaml": "log_level: warn\n",
				"etc/ovos-oauth/config.json": `{"log_level": "error", "flow_ttl": "1m"}`,
			},
			apply: func(_ *testEnv, c *Config) { c.LogLevel = "warn" },
		},
		{
			name: "explicit file replaces the search",
			files: map[string]string{
				"etc/ovos-oauth/config.yaml":          "log_level: warn\n",
				"home/.config/ovos-oauth/config.yaml": "log_format: json\n",
				"mine.yml":                            "flow_ttl: 20m\n",
			},
			args:  []string{"--config", "mine.yml"},
			apply: func(_ *testEnv, c *Config) { c.FlowTTL = 20 * time.Minute },
		},
		{
			name: "explicit file from the environment",
			files: map[string]string{
				"home/.config/ovos-oauth/config.yaml": "log_format: json\n",
				"mine.json":                           `{"flow_ttl": "20m"}`,
			},
			env:   map[string]string{"OVOS_OAUTH_CONFIG": "mine.json"},
			apply: func(_ *testEnv, c *Config) { c.FlowTTL = 20 * time.Minute },
		},
		{
			name: "flag config over env config",
			files: map[string]string{
				"a.yaml": "flow_ttl: 20m\n",
				"b.yaml": "flow_ttl: 30m\n",
			},
			args:  []string{"--config", "a.yaml"},
			env:   map[string]string{"OVOS_OAUTH_CONFIG": "b.yaml"},
			apply: func(_ *testEnv, c *Config) { c.FlowTTL = 20 * time.Minute },
		},
		{
			name:  "empty values mean the default",
			files: map[string]string{"etc/ovos-oauth/config.yaml": "bus_url: \"\"\nflow_ttl: \"\"\nlog_level:\n"},
			apply: func(*testEnv, *Config) {},
		},
		{
			name:  "keys are case-insensitive, values lower-cased",
			files: map[string]string{"etc/ovos-oauth/config.json": `{"Log_Level": "WARN", "LOG_FORMAT": "JSON"}`},
			apply: func(_ *testEnv, c *Config) { c.LogLevel, c.LogFormat = "warn", "json" },
		},
		{
			name:  "relative data_dir made absolute",
			files: map[string]string{"etc/ovos-oauth/config.yaml": "data_dir: state\n"},
			apply: func(_ *testEnv, c *Config) {
				wd, _ := os.Getwd()
				c.DataDir = filepath.Join(wd, "state")
				c.SecretsKeyFile = filepath.Join(wd, "state", "secrets.key")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for rel, content := range tt.files {
				e.write(rel, content)
			}
			for k, v := range tt.env {
				e.vars[k] = e.path(v)
			}
			var args []string
			for _, a := range tt.args {
				if strings.Contains(a, ".") {
					a = e.path(a)
				}
				args = append(args, a)
			}
			want := e.defaults()
			tt.apply(e, &want)
			got, err := e.load(args...)
			if err != nil {
				t.Fatalf("load(%q) error = %v", args, err)
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("load(%q) (-got +want):\n%s", args, diff)
			}
		})
	}
}

func TestLoadEmbeddedBus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    string
		mycroft bool
	}{
		{name: "wildcard host", args: []string{"--embedded-bus", "0.0.0.0:9000"}, want: "ws://127.0.0.1:9000/core"},
		{name: "empty host", args: []string{"--embedded-bus", ":9000"}, want: "ws://127.0.0.1:9000/core"},
		{name: "IPv6 wildcard", args: []string{"--embedded-bus", "[::]:9000"}, want: "ws://127.0.0.1:9000/core"},
		{name: "IPv6 host", args: []string{"--embedded-bus", "[::1]:9000"}, want: "ws://[::1]:9000/core"},
		{name: "named host", env: map[string]string{"OVOS_OAUTH_EMBEDDED_BUS": "10.0.0.5:9000"}, want: "ws://10.0.0.5:9000/core"},
		{name: "over mycroft.conf", args: []string{"--embedded-bus", "0.0.0.0:9000"}, mycroft: true, want: "ws://127.0.0.1:9000/core"},
		{name: "not over a flag", args: []string{"--embedded-bus", ":9000", "--bus-url", "ws://other:1/core"}, want: "ws://other:1/core"},
		{name: "not over env", args: []string{"--embedded-bus", ":9000"}, env: map[string]string{"OVOS_OAUTH_BUS_URL": "ws://other:2/core"}, want: "ws://other:2/core"},
		{name: "not over a file", args: []string{"--embedded-bus", ":9000"}, file: "bus_url: ws://other:3/core\n", want: "ws://other:3/core"},
		{name: "both in a file", file: "embedded_bus: 127.0.0.1:9001\n", want: "ws://127.0.0.1:9001/core"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tt.env {
				e.vars[k] = v
			}
			if tt.file != "" {
				e.write("etc/ovos-oauth/config.yaml", tt.file)
			}
			if tt.mycroft {
				e.write("etc/mycroft/mycroft.conf", `{"websocket": {"host": "elsewhere", "port": 1}}`)
			}
			got, err := e.load(tt.args...)
			if err != nil {
				t.Fatalf("load(%q) error = %v", tt.args, err)
			}
			if got.BusURL != tt.want {
				t.Errorf("BusURL = %q, want %q", got.BusURL, tt.want)
			}
		})
	}
}

func TestLoadMycroftConf(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.write("etc/mycroft/mycroft.conf", `// OVOS system config
{
  # the bus
  "websocket": {"host": "0.0.0.0", "port": 8181, "route": "/core", "ssl": false},
  "PHAL": {"ovos-PHAL-plugin-oauth": {"port": 4000}, "other-plugin": {"port": 1}},
  "lang": "en-us"
}`)
	e.write("home/.config/mycroft/mycroft.conf", `{
    // the user wants TLS
    "websocket": {"ssl": true, "port": 8443}
}`)
	got, err := e.load()
	if err != nil {
		t.Fatalf("load() error = %v", err)
	}
	if want := "wss://127.0.0.1:8443/core"; got.BusURL != want {
		t.Errorf("BusURL = %q, want %q", got.BusURL, want)
	}
	if want := "0.0.0.0:4000"; got.Listen != want {
		t.Errorf("Listen = %q, want %q", got.Listen, want)
	}
	if want := "en-us"; got.Lang != want {
		t.Errorf("Lang = %q, want %q", got.Lang, want)
	}
}

// TestLoadLang: the pages speak the language OVOS speaks, mycroft.conf's
// lang as its stack merges it, unless ovos-oauth's own lang says otherwise.
func TestLoadLang(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.write("etc/mycroft/mycroft.conf", `{"lang": "pt-PT"}`)
	got, err := e.load()
	if err != nil {
		t.Fatalf("load() error = %v", err)
	}
	if want := "pt-PT"; got.Lang != want {
		t.Errorf("Lang from the system mycroft.conf = %q, want %q", got.Lang, want)
	}
	e.write("home/.config/mycroft/mycroft.conf", `{"lang": "de-de"}`)
	if got, err = e.load(); err != nil || got.Lang != "de-de" {
		t.Errorf("Lang from the user's mycroft.conf = %q (%v), want de-de", got.Lang, err)
	}
	e.write("etc/ovos-oauth/config.yaml", "lang: ca-es\n")
	if got, err = e.load(); err != nil || got.Lang != "ca-es" {
		t.Errorf("Lang from ovos-oauth's config = %q (%v), want ca-es", got.Lang, err)
	}
	if got, err = e.load("--lang", "nl"); err != nil || got.Lang != "nl" {
		t.Errorf("Lang from --lang = %q (%v), want nl", got.Lang, err)
	}
	e.write("etc/ovos-oauth/config.yaml", "lang: \"de; rm\"\n")
	if _, err := e.load(); err == nil || !strings.HasPrefix(err.Error(), "lang: ") {
		t.Errorf("load() with lang \"de; rm\": error = %v, want one about lang", err)
	}
	e.write("etc/ovos-oauth/config.yaml", "")
	e.write("home/.config/mycroft/mycroft.conf", `{"lang": 42}`)
	if _, err := e.load(); err == nil || !strings.Contains(err.Error(), "lang") {
		t.Errorf("load() with mycroft.conf lang 42: error = %v, want one about lang", err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		files map[string]string
		want  []string // substrings of the error
	}{
		{name: "unknown key in yaml", files: map[string]string{"etc/ovos-oauth/config.yaml": "bus_ulr: ws://x/core\n"},
			want: []string{"etc/ovos-oauth/config.yaml", "unknown key bus_ulr"}},
		{name: "unknown keys in json", files: map[string]string{"home/.config/ovos-oauth/config.json": `{"log_level": "info", "zeta": 1, "alpha": {"beta": 2}}`},
			want: []string{"ovos-oauth/config.json", "unknown key alpha.beta, zeta"}},
		{name: "nested value", files: map[string]string{"etc/ovos-oauth/config.yaml": "listen:\n  port: 80\n"},
			want: []string{"unknown key listen.port"}},
		{name: "explicit config missing", args: []string{"--config", "nope.yaml"},
			want: []string{"nope.yaml", "no such file"}},
		{name: "env config missing", env: map[string]string{"OVOS_OAUTH_CONFIG": "nope.json"},
			want: []string{"nope.json", "no such file"}},
		{name: "config of unknown type", args: []string{"--config", "c.toml"}, files: map[string]string{"c.toml": "a = 1\n"},
			want: []string{"c.toml", ".yaml, .yml or .json"}},
		{name: "malformed yaml", files: map[string]string{"etc/ovos-oauth/config.yaml": "log_level: [\n"},
			want: []string{"etc/ovos-oauth/config.yaml"}},
		{name: "malformed json", files: map[string]string{"etc/ovos-oauth/config.json": `{"log_level": }`},
			want: []string{"etc/ovos-oauth/config.json"}},
		{name: "bad duration in file", files: map[string]string{"etc/ovos-oauth/config.yaml": "flow_ttl: soon\n"},
			want: []string{"config.yaml", "flow_ttl", `"soon"`}},
		{name: "bad bool in file", files: map[string]string{"etc/ovos-oauth/config.yaml": "mirror_ovos_utils: maybe\n"},
			want: []string{"config.yaml", "mirror_ovos_utils"}},
		{name: "bad duration in env", env: map[string]string{"OVOS_OAUTH_FLOW_TTL": "soon"},
			want: []string{"OVOS_OAUTH_FLOW_TTL", "flow_ttl", `"soon"`}},
		{name: "bad bool in env", env: map[string]string{"OVOS_OAUTH_MIRROR_OVOS_UTILS": "maybe"},
			want: []string{"OVOS_OAUTH_MIRROR_OVOS_UTILS", "mirror_ovos_utils"}},
		{name: "bad duration flag", args: []string{"--flow-ttl", "soon"}, want: []string{"--flow-ttl"}},
		{name: "bad warning flag", args: []string{"--reauth-warning", "2 weeks"}, want: []string{"--reauth-warning", `"2 weeks"`}},
		{name: "bad warning in env", env: map[string]string{"OVOS_OAUTH_REAUTH_WARNING": "-3d"}, want: []string{"OVOS_OAUTH_REAUTH_WARNING", "reauth_warning", `"-3d"`}},
		{name: "warning too short", args: []string{"--reauth-warning", "30m"}, want: []string{"reauth_warning:"}},
		{name: "unknown flag", args: []string{"--bus"}, want: []string{"--bus"}},
		{name: "positional argument", args: []string{"extra"}, want: []string{`unexpected argument "extra"`}},
		{name: "bare number duration", files: map[string]string{"etc/ovos-oauth/config.json": `{"flow_ttl": 600}`},
			want: []string{"flow_ttl: 600ns"}},
		{name: "bad log level", env: map[string]string{"OVOS_OAUTH_LOG_LEVEL": "verbose"}, want: []string{"log_level:"}},
		{name: "bad listen", args: []string{"--listen", "36536"}, want: []string{"listen:"}},
		{name: "bad bus url", args: []string{"--bus-url", "http://127.0.0.1:8181/core"}, want: []string{"bus_url:"}},
		{name: "wildcard public host", args: []string{"--public-host", "0.0.0.0"}, want: []string{"public_host:"}},
		{name: "plain http relay", args: []string{"--relay-url", "http://relay.example/"}, want: []string{"relay_url:", "https://"}},
		{name: "relay with a query", env: map[string]string{"OVOS_OAUTH_RELAY_URL": "https://relay.example/?x=1"}, want: []string{"relay_url:", "query"}},
		{name: "relay with an empty query", args: []string{"--relay-url", "https://relay.example/?"}, want: []string{"relay_url:", "query"}},
		{name: "relay with an empty fragment", args: []string{"--relay-url", "https://relay.example/#"}, want: []string{"relay_url:", "fragment"}},
		{name: "bad embedded bus", args: []string{"--embedded-bus", "9000"}, want: []string{"embedded_bus:"}},
		{name: "malformed mycroft.conf", files: map[string]string{"etc/xdg/mycroft/mycroft.conf": "{\n  \"websocket\": {\"port\": 8181,}\n}"},
			want: []string{"etc/xdg/mycroft/mycroft.conf", "line 2"}},
		{name: "mycroft.conf with a bad port", files: map[string]string{"home/.config/mycroft/mycroft.conf": `{"websocket": {"port": 0}}`},
			want: []string{"home/.config/mycroft/mycroft.conf", "websocket.port"}},
		{name: "unreadable mycroft.conf", files: map[string]string{"etc/mycroft/mycroft.conf/x": ""},
			want: []string{"etc/mycroft/mycroft.conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for rel, content := range tt.files {
				e.write(rel, content)
			}
			for k, v := range tt.env {
				if strings.HasSuffix(k, "_CONFIG") {
					v = e.path(v)
				}
				e.vars[k] = v
			}
			var args []string
			for i, a := range tt.args {
				if i > 0 && tt.args[i-1] == "--config" {
					a = e.path(a)
				}
				args = append(args, a)
			}
			_, err := e.load(args...)
			if err == nil {
				t.Fatalf("load(%q) error = nil, want one containing %q", args, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("load(%q) error = %q, want it to contain %q", args, err, w)
				}
			}
		})
	}
}

func TestLoadDataDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"home", nil, "home/.local/state/ovos-oauth"},
		{"XDG_STATE_HOME", map[string]string{"XDG_STATE_HOME": "/xdg/state"}, "/xdg/state/ovos-oauth"},
		{"relative XDG_STATE_HOME ignored", map[string]string{"XDG_STATE_HOME": "state"}, "home/.local/state/ovos-oauth"},
		{"XDG_DATA_HOME without a database", map[string]string{"XDG_DATA_HOME": "/xdg/data"}, "home/.local/state/ovos-oauth"},
		{"XDG_DATA_HOME alone", map[string]string{"HOME": "", "XDG_DATA_HOME": "/xdg/data"}, "/xdg/data/ovos-oauth"},
		{"STATE_DIRECTORY", map[string]string{"STATE_DIRECTORY": "/var/lib/ovos-oauth", "XDG_STATE_HOME": "/xdg/state"}, "/var/lib/ovos-oauth"},
		{"STATE_DIRECTORY with several", map[string]string{"STATE_DIRECTORY": "/var/lib/ovos-oauth:/var/lib/other"}, "/var/lib/ovos-oauth"},
		{"STATE_DIRECTORY with an empty first", map[string]string{"STATE_DIRECTORY": ":/var/lib/second"}, "/var/lib/second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tt.env {
				e.vars[k] = v
			}
			want := tt.want
			if !filepath.IsAbs(want) {
				want = e.path(want)
			}
			got, err := e.load()
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if got.DataDir != want {
				t.Errorf("DataDir = %q, want %q", got.DataDir, want)
			}
			if got.SecretsKeyFile != filepath.Join(want, "secrets.key") {
				t.Errorf("SecretsKeyFile = %q, want %q", got.SecretsKeyFile, filepath.Join(want, "secrets.key"))
			}
		})
	}
}

// TestLoadSecretsKeyFile: a systemd credential named ovos-oauth.key is the
// key file when it exists; otherwise the data directory's, whatever
// CREDENTIALS_DIRECTORY says.
func TestLoadSecretsKeyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		creds string // CREDENTIALS_DIRECTORY, inside the test machine
		files []string
		args  []string
		want  string // inside the test machine unless absolute
	}{
		{name: "no credentials", want: "home/.local/state/ovos-oauth/secrets.key"},
		{name: "credential present", creds: "run/credentials/ovos-oauth.service", files: []string{"run/credentials/ovos-oauth.service/ovos-oauth.key"},
			want: "run/credentials/ovos-oauth.service/ovos-oauth.key"},
		{name: "credential absent", creds: "run/credentials/ovos-oauth.service", files: []string{"run/credentials/ovos-oauth.service/other.key"},
			want: "home/.local/state/ovos-oauth/secrets.key"},
		{name: "credentials directory missing", creds: "run/credentials/none",
			want: "home/.local/state/ovos-oauth/secrets.key"},
		{name: "data dir given", args: []string{"--data-dir", "/srv/oauth"}, want: "/srv/oauth/secrets.key"},
		{name: "flag beats the credential", creds: "run/credentials/ovos-oauth.service", files: []string{"run/credentials/ovos-oauth.service/ovos-oauth.key"},
			args: []string{"--secrets-key-file", "/etc/ovos-oauth/secrets.key"}, want: "/etc/ovos-oauth/secrets.key"},
		{name: "relative made absolute", args: []string{"--secrets-key-file", "keys/secrets.key"}, want: "cwd:keys/secrets.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			if tt.creds != "" {
				e.vars["CREDENTIALS_DIRECTORY"] = e.path(tt.creds)
			}
			for _, f := range tt.files {
				e.write(f, "not read by Load")
			}
			want := tt.want
			if rel, ok := strings.CutPrefix(want, "cwd:"); ok {
				wd, _ := os.Getwd()
				want = filepath.Join(wd, rel)
			} else if !filepath.IsAbs(want) {
				want = e.path(want)
			}
			got, err := e.load(tt.args...)
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if got.SecretsKeyFile != want {
				t.Errorf("SecretsKeyFile = %q, want %q", got.SecretsKeyFile, want)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := Load([]string{arg}, func(string) string { return "" }, &stderr)
			if !errors.Is(err, ErrHelp) || !errors.Is(err, pflag.ErrHelp) {
				t.Fatalf("Load(%q) error = %v, want ErrHelp wrapping pflag.ErrHelp", arg, err)
			}
			usage := stderr.String()
			for _, k := range keys {
				if !regexp.MustCompile(`--` + flagName(k) + `[ \[]`).MatchString(usage) {
					t.Errorf("usage does not mention --%s:\n%s", flagName(k), usage)
				}
			}
			for _, w := range []string{"Usage: ovos-oauth serve", "--config", "OVOS_OAUTH_SYSTEM_CONFIG_DIR"} {
				if !strings.Contains(usage, w) {
					t.Errorf("usage does not mention %q:\n%s", w, usage)
				}
			}
		})
	}
}

// TestKeys keeps the key list, the flags and the Config struct in step.
func TestKeys(t *testing.T) {
	t.Parallel()
	var tags []string
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		tags = append(tags, typ.Field(i).Tag.Get("mapstructure"))
	}
	if diff := cmp.Diff(keys, tags); diff != "" {
		t.Errorf("keys differ from Config's mapstructure tags (-keys +tags):\n%s", diff)
	}
	fs := newFlagSet(i18n.For(i18n.Fallback))
	for _, k := range keys {
		if fs.Lookup(flagName(k)) == nil {
			t.Errorf("no flag --%s for key %s", flagName(k), k)
		}
	}
	if n := len(keys) + 1; countFlags(fs) != n {
		t.Errorf("flag set has %d flags, want %d (the keys and --config)", countFlags(fs), n)
	}
}

func countFlags(fs *pflag.FlagSet) int {
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	return n
}

const exampleConfig = "../../configs/ovos-oauth.yaml"

// TestExampleConfig keeps configs/ovos-oauth.yaml true: it loads, it changes
// nothing from the defaults, and it documents every key.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	got, err := Load([]string{"--config", exampleConfig}, e.getenv, io.Discard)
	if err != nil {
		t.Fatalf("Load(--config %s) error = %v", exampleConfig, err)
	}
	want, err := Load([]string{"--public-host", got.PublicHost}, e.getenv, io.Discard)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("the example config changes defaults (-example +defaults):\n%s", diff)
	}

	text, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		// A key line, set or commented out, after a comment saying its default.
		re := regexp.MustCompile(`(?m)^# .*[Dd]efault.*\n(#( .*)?\n)*#?` + k + `:`)
		if !re.Match(text) {
			t.Errorf("%s does not document %s with its default", exampleConfig, k)
		}
	}
	// Uncommenting every key (with the example values) must still load.
	uncommented := regexp.MustCompile(`(?m)^#(\w+:)`).ReplaceAll(text, []byte("$1"))
	p := e.write("uncommented.yaml", string(uncommented))
	if _, err := Load([]string{"--config", p}, e.getenv, io.Discard); err != nil {
		t.Errorf("Load(example with every key uncommented) error = %v", err)
	}
	if slices.Contains(keys, "config") {
		t.Error("config must not be a key")
	}
}

// TestEmbeddedBusAlone: --embedded-bus without a value hosts the bus where
// the daemon would look for it, and swallows no other flag.
func TestEmbeddedBusAlone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args          []string
		embedded, bus string
	}{
		{[]string{"--embedded-bus"}, "127.0.0.1:8181", "ws://127.0.0.1:8181/core"},
		{[]string{"--embedded-bus", "--listen", "127.0.0.1:4000"}, "127.0.0.1:8181", "ws://127.0.0.1:8181/core"},
		{[]string{"--embedded-bus", "--bus-url", "ws://127.0.0.1:9000/core"}, "127.0.0.1:9000", "ws://127.0.0.1:9000/core"},
		{[]string{"--embedded-bus=127.0.0.1:9191"}, "127.0.0.1:9191", "ws://127.0.0.1:9191/core"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			e := newTestEnv(t)
			got, err := e.load(tt.args...)
			if err != nil {
				t.Fatalf("load() error = %v", err)
			}
			if got.EmbeddedBus != tt.embedded || got.BusURL != tt.bus {
				t.Errorf("EmbeddedBus %q, BusURL %q; want %q, %q", got.EmbeddedBus, got.BusURL, tt.embedded, tt.bus)
			}
		})
	}
}

// TestLoadQRDirDefault: the images go to a folder of this user's under the
// temporary directory, outside the private data directory, so that a GUI
// running as another user can show them.
func TestLoadQRDirDefault(t *testing.T) {
	t.Parallel()
	uid := strconv.Itoa(os.Getuid())
	for tmp, want := range map[string]string{"": "/tmp/ovos-oauth-" + uid + "/qr", "/var/tmp": "/var/tmp/ovos-oauth-" + uid + "/qr", "relative": "/tmp/ovos-oauth-" + uid + "/qr"} {
		e := newTestEnv(t)
		e.vars["TMPDIR"] = tmp
		got, err := e.load()
		if err != nil {
			t.Fatal(err)
		}
		if got.QRDir != want {
			t.Errorf("TMPDIR=%q: QRDir = %q, want %q", tmp, got.QRDir, want)
		}
		if strings.HasPrefix(got.QRDir, got.DataDir) {
			t.Errorf("QRDir %q is under the private data dir %q", got.QRDir, got.DataDir)
		}
	}
}
