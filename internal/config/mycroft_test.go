package config

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMycroftConf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		conf       string
		wantURL    string
		wantListen int
	}{
		{name: "empty file", conf: "", wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "only comments", conf: "// nothing\n  # here\n", wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "unrelated content", conf: `{"lang": "en-us", "websocket": {"max_msg_size": 25}, "PHAL": {"x": {}}}`,
			wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "everything", conf: `{"websocket": {"host": "bus.lan", "port": 9000, "route": "/bus", "ssl": true},
			"PHAL": {"ovos-PHAL-plugin-oauth": {"port": 4000}}}`, wantURL: "wss://bus.lan:9000/bus", wantListen: 4000},
		{name: "comments", conf: "// header\n{\n\t# the bus\n  \"websocket\": {\n    // port\n    \"port\": 9000\n  }\n}\n",
			wantURL: "ws://127.0.0.1:9000/core", wantListen: 36536},
		{name: "comment markers after content are kept", conf: "{\"websocket\":\n  {\"route\": \"/a//b#c\"}}",
			wantURL: "", wantListen: 0}, // # is refused in a route, so this must fail, not lose the line
		{name: "slashes inside a value", conf: "{\"websocket\":\n  {\"route\": \"/a//b\"}}",
			wantURL: "ws://127.0.0.1:8181/a//b", wantListen: 36536},
		{name: "wildcard host", conf: `{"websocket": {"host": "0.0.0.0"}}`, wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "empty host", conf: `{"websocket": {"host": ""}}`, wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "IPv6 wildcard host", conf: `{"websocket": {"host": "::"}}`, wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "IPv6 host", conf: `{"websocket": {"host": "::1"}}`, wantURL: "ws://[::1]:8181/core", wantListen: 36536},
		{name: "bracketed IPv6 host", conf: `{"websocket": {"host": "[fd00::2]"}}`, wantURL: "ws://[fd00::2]:8181/core", wantListen: 36536},
		{name: "ssl false", conf: `{"websocket": {"ssl": false}}`, wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "route without slash", conf: `{"websocket": {"route": "core"}}`, wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "empty route", conf: `{"websocket": {"route": ""}}`, wantURL: "ws://127.0.0.1:8181", wantListen: 36536},
		{name: "port as a string", conf: `{"websocket": {"port": "8282"}, "PHAL": {"ovos-PHAL-plugin-oauth": {"port": "4001"}}}`,
			wantURL: "ws://127.0.0.1:8282/core", wantListen: 4001},
		{name: "nulls are unset", conf: `{"websocket": {"host": null, "port": null}, "PHAL": null}`,
			wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "keys are case-sensitive", conf: `{"WebSocket": {"port": 1}, "phal": {"ovos-PHAL-plugin-oauth": {"port": 2}}}`,
			wantURL: "ws://127.0.0.1:8181/core", wantListen: 36536},
		{name: "byte order mark", conf: "\xef\xbb\xbf{\"websocket\": {\"port\": 9001}}", wantURL: "ws://127.0.0.1:9001/core", wantListen: 36536},
		{name: "CRLF", conf: "// c\r\n{\"websocket\":\r\n # c\r\n {\"port\": 9002}}\r\n", wantURL: "ws://127.0.0.1:9002/core", wantListen: 36536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMycroftConf([]byte(tt.conf))
			if tt.wantURL == "" {
				if err == nil {
					t.Fatalf("parseMycroftConf() = %+v, want an error", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMycroftConf() error = %v", err)
			}
			if got := c.busURL(); got != tt.wantURL {
				t.Errorf("busURL() = %q, want %q", got, tt.wantURL)
			}
			if got := c.listenPort(); got != tt.wantListen {
				t.Errorf("listenPort() = %d, want %d", got, tt.wantListen)
			}
		})
	}
}

func TestParseMycroftConfErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conf string
		want string
	}{
		{"trailing comma", "{\n\"websocket\": {\"port\": 1,}\n}", "line 2"},
		{"trailing comment", `{"websocket": {"port": 1}} // no`, "invalid character"},
		{"not an object", `[1, 2]`, "cannot unmarshal"},
		{"truncated", `{"websocket": {`, "unexpected end"},
		{"websocket not an object", `{"websocket": "ws://x"}`, "websocket: not an object"},
		{"PHAL not an object", `{"PHAL": []}`, "PHAL: not an object"},
		{"plugin not an object", `{"PHAL": {"ovos-PHAL-plugin-oauth": 1}}`, "PHAL.ovos-PHAL-plugin-oauth: not an object"},
		{"host not a string", `{"websocket": {"host": 1}}`, "websocket.host"},
		{"host with a space", `{"websocket": {"host": "a b"}}`, "websocket.host"},
		{"host with a zone", `{"websocket": {"host": "fe80::1%eth0"}}`, "websocket.host"},
		{"host with a port", `{"websocket": {"host": "a:1"}}`, "websocket.host"},
		{"port zero", `{"websocket": {"port": 0}}`, "websocket.port"},
		{"port too big", `{"websocket": {"port": 65536}}`, "websocket.port"},
		{"port fractional", `{"websocket": {"port": 80.5}}`, "websocket.port"},
		{"port not a number", `{"websocket": {"port": "http"}}`, "websocket.port"},
		{"port a bool", `{"websocket": {"port": true}}`, "websocket.port"},
		{"route with a query", `{"websocket": {"route": "/core?x=1"}}`, "websocket.route"},
		{"route with a space", `{"websocket": {"route": "/co re"}}`, "websocket.route"},
		{"ssl a string", `{"websocket": {"ssl": "true"}}`, "websocket.ssl"},
		{"oauth port negative", `{"PHAL": {"ovos-PHAL-plugin-oauth": {"port": -1}}}`, "PHAL.ovos-PHAL-plugin-oauth.port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMycroftConf([]byte(tt.conf))
			if err == nil {
				t.Fatalf("parseMycroftConf() = %+v, want an error containing %q", c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseMycroftConf() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMycroftPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, []string{"/etc/mycroft/mycroft.conf", "/etc/xdg/mycroft/mycroft.conf"}},
		{"home", map[string]string{"HOME": "/home/u"},
			[]string{"/etc/mycroft/mycroft.conf", "/etc/xdg/mycroft/mycroft.conf", "/home/u/.config/mycroft/mycroft.conf"}},
		{"everything", map[string]string{
			"HOME": "/home/u", "XDG_CONFIG_HOME": "/cfg", "MYCROFT_SYSTEM_CONFIG": "/opt/mycroft.conf",
			"XDG_CONFIG_DIRS": "/first:relative::/second",
		}, []string{"/opt/mycroft.conf", "/second/mycroft/mycroft.conf", "/first/mycroft/mycroft.conf", "/cfg/mycroft/mycroft.conf"}},
		{"relative XDG_CONFIG_HOME", map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "cfg"},
			[]string{"/etc/mycroft/mycroft.conf", "/etc/xdg/mycroft/mycroft.conf", "/home/u/.config/mycroft/mycroft.conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mycroftPaths(func(k string) string { return tt.env[k] })
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("mycroftPaths() (-got +want):\n%s", diff)
			}
		})
	}
}

// TestMycroftStack checks the merge order: system, then $XDG_CONFIG_DIRS
// from its last entry to its first, then the user's file, each overriding
// only the values it sets.
func TestMycroftStack(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"system": `// system
{"websocket": {"host": "system.lan", "port": 1001, "route": "/system", "ssl": false},
 "PHAL": {"ovos-PHAL-plugin-oauth": {"port": 2001}}}`,
		"xdg2": `# second XDG dir, less important
{"websocket": {"port": 1002, "route": "/xdg2"}}`,
		"xdg1": `{"websocket": {"port": 1003},
  // first XDG dir
  "PHAL": {"ovos-PHAL-plugin-oauth": {"port": 2003}}}`,
		"user": `{"websocket": {"ssl": true}}`,
	}
	tests := []struct {
		name       string
		present    []string
		wantURL    string
		wantListen int
	}{
		{"none", nil, "ws://127.0.0.1:8181/core", 36536},
		{"system", []string{"system"}, "ws://system.lan:1001/system", 2001},
		{"system and xdg2", []string{"system", "xdg2"}, "ws://system.lan:1002/xdg2", 2001},
		{"xdg dirs", []string{"xdg1", "xdg2"}, "ws://127.0.0.1:1003/xdg2", 2003},
		{"all", []string{"system", "xdg1", "xdg2", "user"}, "wss://system.lan:1003/xdg2", 2003},
		{"user alone", []string{"user"}, "wss://127.0.0.1:8181/core", 36536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.vars["XDG_CONFIG_DIRS"] = e.path("xdg1") + ":" + e.path("xdg2")
			where := map[string]string{
				"system": "etc/mycroft/mycroft.conf",
				"xdg1":   "xdg1/mycroft/mycroft.conf",
				"xdg2":   "xdg2/mycroft/mycroft.conf",
				"user":   "home/.config/mycroft/mycroft.conf",
			}
			for _, name := range tt.present {
				e.write(where[name], files[name])
			}
			c, err := readMycroftStack(mycroftPaths(e.getenv))
			if err != nil {
				t.Fatalf("readMycroftStack() error = %v", err)
			}
			if got := c.busURL(); got != tt.wantURL {
				t.Errorf("busURL() = %q, want %q", got, tt.wantURL)
			}
			if got := c.listenPort(); got != tt.wantListen {
				t.Errorf("listenPort() = %d, want %d", got, tt.wantListen)
			}
		})
	}
}

func TestMycroftStackErrorNamesFile(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.write("etc/mycroft/mycroft.conf", `{"websocket": {"port": 1001}}`)
	bad := e.write("home/.config/mycroft/mycroft.conf", "{\n  // fine\n  \"websocket\": {\"port\": 1001\n}")
	_, err := readMycroftStack(mycroftPaths(e.getenv))
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("readMycroftStack() error = %v, want it to name %s", err, bad)
	}
	if want := filepath.Base(filepath.Dir(bad)); !strings.Contains(err.Error(), want) {
		t.Errorf("readMycroftStack() error = %v, want it to contain %q", err, want)
	}
}

// FuzzParseMycroftConf: the parser never panics, and whatever it accepts
// yields a bus URL that passes Validate and a port in range.
func FuzzParseMycroftConf(f *testing.F) {
	for _, seed := range []string{
		"",
		"{}",
		"// c\n{\"websocket\": {\"host\": \"0.0.0.0\", \"port\": 8181, \"route\": \"/core\", \"ssl\": false}}",
		`{"websocket": {"host": "::", "port": "8181", "route": "core", "ssl": true}}`,
		`{"PHAL": {"ovos-PHAL-plugin-oauth": {"port": 36536}}}`,
		"# x\n  // y\n{\"websocket\": null, \"PHAL\": {\"ovos-PHAL-plugin-oauth\": null}}",
		`{"websocket": {"host": "[fd00::1]", "port": 1e3}}`,
		"\xef\xbb\xbf[]",
		`{"websocket": {"port": 99999999999999999999999}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseMycroftConf(data)
		if err != nil {
			return
		}
		if err := checkBusURL(c.busURL()); err != nil {
			t.Errorf("parseMycroftConf(%q) accepted, but busURL() = %q: %v", data, c.busURL(), err)
		}
		if p := c.listenPort(); p < 0 || p > 65535 {
			t.Errorf("parseMycroftConf(%q) accepted, but listenPort() = %d", data, p)
		}
	})
}

// FuzzMycroftLang: whatever a mycroft.conf holds, the lang read of it
// alone, for settings that do not load, is the one parseMycroftConf reads
// of a file it accepts; and a file it refuses as not JSON is refused at a
// line the file has.
func FuzzMycroftLang(f *testing.F) {
	for _, seed := range []string{
		`{"lang": "pt-pt"}`,
		"// c\n{\"lang\": \"de-de\", \"websocket\": {\"port\": \"abc\"}}",
		"{\"lang\": \"ca-es\",\n}",
		`{"lang": 3}`,
		`{"Lang": "nl"}`,
		"\xef\xbb\xbf{\"lang\": null}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lang := mycroftLangOf(data)
		c, err := parseMycroftConf(data)
		if err == nil {
			want := ""
			if c.lang != nil {
				want = *c.lang
			}
			if lang != want {
				t.Errorf("mycroftLangOf(%q) = %q, parseMycroftConf's lang %q", data, lang, want)
			}
			return
		}
		if e, ok := errors.AsType[*FileError](err); ok && e.Line > bytes.Count(data, []byte("\n"))+1 {
			t.Errorf("parseMycroftConf(%q) = %v, at line %d of a file of %d", data, err, e.Line, bytes.Count(data, []byte("\n"))+1)
		}
	})
}
