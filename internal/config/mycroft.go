package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Defaults of the OVOS configuration, used when no mycroft.conf sets a value.
const (
	ovosBusHost   = "127.0.0.1"
	ovosBusPort   = 8181
	ovosBusRoute  = "/core"
	ovosOAuthPort = 36536
	ovosLang      = "en-us"
)

// mycroftConf is the part of one mycroft.conf that ovos-oauth reads. A nil
// field is one the file does not set, so that a later file overrides only
// what it names (the deep merge OVOS does).
type mycroftConf struct {
	host      *string
	port      *int
	route     *string
	ssl       *bool
	oauthPort *int    // PHAL.ovos-PHAL-plugin-oauth.port
	lang      *string // the language OVOS speaks

	secretKey        *Secret // websocket.secret_key; "" is no key, as in OVOS
	secretKeyFile    string  // the file that set secretKey, for errors
	allowUnencrypted *bool   // websocket.allow_unencrypted
}

// overlay returns c with every field that top sets replaced.
func (c mycroftConf) overlay(top mycroftConf) mycroftConf {
	if top.host != nil {
		c.host = top.host
	}
	if top.port != nil {
		c.port = top.port
	}
	if top.route != nil {
		c.route = top.route
	}
	if top.ssl != nil {
		c.ssl = top.ssl
	}
	if top.oauthPort != nil {
		c.oauthPort = top.oauthPort
	}
	if top.lang != nil {
		c.lang = top.lang
	}
	if top.secretKey != nil {
		c.secretKey, c.secretKeyFile = top.secretKey, top.secretKeyFile
	}
	if top.allowUnencrypted != nil {
		c.allowUnencrypted = top.allowUnencrypted
	}
	return c
}

// busURL is the URL a client uses for the websocket block, as
// ovos-bus-client builds it. A server's wildcard host means this machine.
func (c mycroftConf) busURL() string {
	host, port, route, scheme := ovosBusHost, ovosBusPort, ovosBusRoute, "ws"
	if c.host != nil {
		host = clientHost(*c.host)
	}
	if c.port != nil {
		port = *c.port
	}
	if c.route != nil {
		route = *c.route
	}
	if c.ssl != nil && *c.ssl {
		scheme = "wss"
	}
	if route != "" && !strings.HasPrefix(route, "/") {
		route = "/" + route
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + route
}

// listenPort is the callback server's port from the plugin's PHAL block.
func (c mycroftConf) listenPort() int {
	if c.oauthPort != nil {
		return *c.oauthPort
	}
	return ovosOAuthPort
}

// language is OVOS's lang, en-us when no file sets it.
func (c mycroftConf) language() string {
	if c.lang != nil && *c.lang != "" {
		return *c.lang
	}
	return ovosLang
}

// clientHost turns the host a server binds to into one a client on the same
// machine connects to.
func clientHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" {
		return "127.0.0.1"
	}
	if a, err := netip.ParseAddr(h); err == nil && a.IsUnspecified() {
		return "127.0.0.1"
	}
	return h
}

// mycroftPaths lists the OVOS config stack, lowest precedence first: the
// system file, each $XDG_CONFIG_DIRS entry (least important first, as the XDG
// spec orders them most important first), then the user's file.
func mycroftPaths(getenv func(string) string) []string {
	sys := getenv("MYCROFT_SYSTEM_CONFIG")
	if sys == "" {
		sys = "/etc/mycroft/mycroft.conf"
	}
	paths := []string{sys}
	dirs := xdgDirs(getenv("XDG_CONFIG_DIRS"), "/etc/xdg")
	for i := len(dirs) - 1; i >= 0; i-- {
		paths = append(paths, filepath.Join(dirs[i], "mycroft", "mycroft.conf"))
	}
	if home := xdgConfigHome(getenv); home != "" {
		paths = append(paths, filepath.Join(home, "mycroft", "mycroft.conf"))
	}
	return paths
}

// readMycroftStack merges the files of the OVOS config stack. A missing file
// is skipped; one that cannot be read or parsed is an error naming it, since
// guessing would attach the daemon to the wrong bus.
func readMycroftStack(paths []string) (mycroftConf, error) {
	var merged mycroftConf
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return mycroftConf{}, &FileError{Path: p, Problem: FileUnreadable, Err: fmt.Errorf("read OVOS config: %w", err)}
		}
		c, err := parseMycroftConf(data)
		if err != nil {
			switch e := err.(type) {
			case *SettingError:
				e.from(FromFile, p)
			case *FileError:
				e.Path = p
			}
			return mycroftConf{}, fmt.Errorf("OVOS config %s: %w", p, err)
		}
		if c.secretKey != nil {
			c.secretKeyFile = p
		}
		merged = merged.overlay(c)
	}
	return merged, nil
}

// parseMycroftConf reads the websocket block (the bus's address and its
// encryption), the plugin's port and lang from one mycroft.conf: JSON in which a
// line whose first non-blank characters are // or # is a comment (trailing
// comments are not supported, as in OVOS). An empty file sets nothing. Keys
// are matched exactly, as Python does; null means unset.
func parseMycroftConf(data []byte) (mycroftConf, error) {
	data = uncomment(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	var c mycroftConf
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	var top map[string]json.RawMessage
	err := json.Unmarshal(data, &top)
	if err != nil {
		return c, syntaxError("JSON", data, err, jsonError(data, err))
	}
	if c.lang, err = field[string](top, "lang", "lang"); err != nil {
		return c, err
	}
	if err := c.readWebsocket(top); err != nil {
		return c, err
	}
	phal, err := object(top, "PHAL", "PHAL")
	if err != nil {
		return c, err
	}
	plugin, err := object(phal, "ovos-PHAL-plugin-oauth", "PHAL.ovos-PHAL-plugin-oauth")
	if err != nil {
		return c, err
	}
	// Port 0 (any free port) is allowed for the listener, as for --listen.
	if c.oauthPort, err = port(plugin, "port", "PHAL.ovos-PHAL-plugin-oauth.port", 0); err != nil {
		return c, err
	}
	return c, nil
}

// readWebsocket reads the websocket block of top, a mycroft.conf: the bus's
// address and its encryption.
func (c *mycroftConf) readWebsocket(top map[string]json.RawMessage) error {
	ws, err := object(top, "websocket", "websocket")
	if err != nil {
		return err
	}
	if c.host, err = field[string](ws, "host", "websocket.host"); err != nil {
		return err
	}
	if c.host != nil && !isBusHost(*c.host) {
		return mycroftError("websocket.host", *c.host, fmt.Errorf("websocket.host: %q is not a host name or IP address", *c.host))
	}
	if c.port, err = port(ws, "port", "websocket.port", 1); err != nil {
		return err
	}
	if c.route, err = field[string](ws, "route", "websocket.route"); err != nil {
		return err
	}
	if c.route != nil && !isRoute(*c.route) {
		return mycroftError("websocket.route", *c.route, fmt.Errorf("websocket.route: %q is not a URL path", *c.route))
	}
	if c.ssl, err = field[bool](ws, "ssl", "websocket.ssl"); err != nil {
		return err
	}
	if raw, ok := ws["secret_key"]; ok {
		// Not field: its error would quote the value.
		var k *string
		if err := json.Unmarshal(raw, &k); err != nil {
			return mycroftError("websocket.secret_key", "", errors.New("websocket.secret_key: not a string"))
		}
		c.secretKey = (*Secret)(k)
	}
	if c.allowUnencrypted, err = field[bool](ws, "allow_unencrypted", "websocket.allow_unencrypted"); err != nil {
		return err
	}
	return nil
}

// mycroftError is the error of value at path in a mycroft.conf, which err
// says in English.
func mycroftError(path, value string, err error) error {
	e := &SettingError{Setting: path, Value: value, Problem: ProblemInvalid, Err: err}
	e.describe()
	return e
}

// mycroftLang is the lang a mycroft.conf sets, "" if none or the file does
// not read.
func mycroftLang(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return mycroftLangOf(data)
}

// mycroftLangOf is the lang of a mycroft.conf's content data, read as
// parseMycroftConf reads it, whatever else the file holds.
func mycroftLangOf(data []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(uncomment(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))), &top) != nil {
		return ""
	}
	lang, _ := field[string](top, "lang", "lang")
	if lang == nil {
		return ""
	}
	return *lang
}

// uncomment blanks whole-line comments, keeping the line count so that
// syntax errors point at the right line.
func uncomment(data []byte) []byte {
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		t := bytes.TrimLeft(line, " \t\r")
		if bytes.HasPrefix(t, []byte("//")) || bytes.HasPrefix(t, []byte("#")) {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, []byte("\n"))
}

// jsonError adds a line and column to a JSON syntax error.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		return err
	}
	off := min(int(syn.Offset), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// object returns obj[key] as an object; nil if it is absent or null.
func object(obj map[string]json.RawMessage, key, path string) (map[string]json.RawMessage, error) {
	raw, ok := obj[key]
	if !ok {
		return nil, nil
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, mycroftError(path, shownRaw(raw), fmt.Errorf("%s: not an object", path))
	}
	return o, nil
}

// field returns obj[key] as a T; nil if it is absent or null.
func field[T any](obj map[string]json.RawMessage, key, path string) (*T, error) {
	raw, ok := obj[key]
	if !ok {
		return nil, nil
	}
	var v *T
	if err := json.Unmarshal(raw, &v); err != nil {
		var zero T
		return nil, mycroftError(path, shownRaw(raw), fmt.Errorf("%s: %s is not a %T", path, raw, zero))
	}
	return v, nil
}

// port returns obj[key] as a port number from minPort to 65535. A numeric
// string is accepted too: Python pastes either into the URL.
func port(obj map[string]json.RawMessage, key, path string, minPort int) (*int, error) {
	raw, ok := obj[key]
	if !ok {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var n int
	switch v := v.(type) {
	case nil:
		return nil, nil
	case float64:
		if v < float64(minPort) || v > 65535 || v != float64(int(v)) {
			return nil, mycroftError(path, shownRaw(raw), fmt.Errorf("%s: %s is not a port number", path, raw))
		}
		n = int(v)
	case string:
		p, err := strconv.Atoi(v)
		if err != nil || p < minPort || p > 65535 {
			return nil, mycroftError(path, shownRaw(raw), fmt.Errorf("%s: %s is not a port number", path, raw))
		}
		n = p
	default:
		return nil, mycroftError(path, shownRaw(raw), fmt.Errorf("%s: %s is not a port number", path, raw))
	}
	return &n, nil
}

// isBusHost accepts a host name or an IP address (bracketed or not) without
// a zone: anything else would not survive being pasted into a URL.
func isBusHost(h string) bool {
	if h == "" {
		return true // a server's "any interface"
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a.Zone() == ""
	}
	return isHostname(h)
}

// isRoute accepts an empty route or a path of printable ASCII that cannot
// turn into a query, fragment or escape when appended to a URL.
func isRoute(r string) bool {
	for _, c := range r {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`?#%\`, c) {
			return false
		}
	}
	return true
}

// xdgDirs splits a colon-separated XDG directory list, dropping relative
// entries as the XDG spec requires; def is used when nothing is left.
func xdgDirs(list, def string) []string {
	var dirs []string
	for d := range strings.SplitSeq(list, ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		dirs = []string{def}
	}
	return dirs
}

// xdgConfigHome is $XDG_CONFIG_HOME, else $HOME/.config; empty if neither is
// usable.
func xdgConfigHome(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}
