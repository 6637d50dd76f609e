package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// Config is the daemon's settings once every source has been merged and every
// derived default filled in. It is a plain value: safe to copy and to read
// from any number of goroutines.
type Config struct {
	// BusURL is the OVOS messagebus to attach to: ws://host:port/route or
	// wss://host:port/route.
	BusURL string `mapstructure:"bus_url"`
	// EmbeddedBus is the host:port at which to host an OVOS-compatible
	// messagebus in-process; empty means none.
	EmbeddedBus string `mapstructure:"embedded_bus"`
	// DataDir holds the token database (see DBPath).
	DataDir string `mapstructure:"data_dir"`
	// Listen is the host:port of the OAuth callback HTTP server.
	Listen string `mapstructure:"listen"`
	// PublicHost is the address phones and browsers use to reach this device,
	// in redirect URIs and QR codes: an IPv4 address or a host name.
	PublicHost string `mapstructure:"public_host"`
	// QRDir is where QR code PNGs are written; the GUI must be able to read it.
	QRDir string `mapstructure:"qr_dir"`
	// FlowTTL is how long a pending login stays valid.
	FlowTTL time.Duration `mapstructure:"flow_ttl"`
	// ReauthWarning is how long before a login ends skills are told
	// (oauth.reauth.upcoming), then once a day until a new login or the end.
	ReauthWarning time.Duration `mapstructure:"reauth_warning"`
	// LogFormat is "text" or "json".
	LogFormat string `mapstructure:"log_format"`
	// LogLevel is "debug", "info", "warn" or "error" (see LogLevelValue).
	LogLevel string `mapstructure:"log_level"`
	// MirrorOVOSUtils says whether tokens are mirrored into ovos_utils' JSON
	// files for skills that read them there.
	MirrorOVOSUtils bool `mapstructure:"mirror_ovos_utils"`
	// RelayURL is the HTTPS address of a hosted relay page that sends the
	// phone on to this device; empty means none. Apps registered without a
	// login mode or a device endpoint log in through it.
	RelayURL string `mapstructure:"relay_url"`
	// SecretsKeyFile holds the key that seals the secrets in the token
	// database. It is made when missing for a database without sealed data;
	// a sealed database opens with its own key only.
	SecretsKeyFile string `mapstructure:"secrets_key_file"`
	// BusSecretKey is the key of an encrypted bus, OVOS's
	// websocket.secret_key: 16, 24 or 32 bytes, for AES-128, -192 or -256.
	// Empty means a plain bus.
	BusSecretKey Secret `mapstructure:"bus_secret_key"`
	// BusAllowUnencrypted says whether plain frames are accepted on an
	// encrypted bus, like OVOS's websocket.allow_unencrypted. Without a
	// BusSecretKey every frame is plain and it has no effect.
	BusAllowUnencrypted bool `mapstructure:"bus_allow_unencrypted"`
	// ImportFrom is the directory of ovos-PHAL-plugin-oauth's json_database
	// files, imported at start while the store has no apps; empty means
	// ovos_utils' own, $XDG_CACHE_HOME/mycroft/json_database.
	ImportFrom string `mapstructure:"import_from"`
	// ImportOnStart says whether the daemon imports those files itself at
	// start while the store has no apps. The system unit turns it off: it
	// runs "ovos-oauth import --service" as root before the daemon instead,
	// as only root can read the home of the user that runs OVOS.
	ImportOnStart bool `mapstructure:"import_on_start"`
	// MetricsListen is the host:port of the HTTP server of the Prometheus
	// metrics (/metrics); empty means none.
	MetricsListen string `mapstructure:"metrics_listen"`
	// Lang is the language of the pages phones show and the CLI's output:
	// a tag such as en-us, pt-PT or ca-es, as OVOS's own lang. A language
	// ovos-oauth has no messages in, or none, is English.
	Lang string `mapstructure:"lang"`
}

// Secret is a setting that must never reach a log line, a formatted error or
// --help: every formatting and marshalling path (fmt, slog, JSON, text)
// prints REDACTED; Reveal gives the value.
type Secret string

// MarshalText implements encoding.TextMarshaler, so that a Config encoded as
// JSON (a JSON log line of it, say) does not carry the value.
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer so %v and %s never print the value.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer so %#v never prints the value.
func (Secret) GoString() string { return "REDACTED" }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// minFlowTTL catches a bare number in a config file ("flow_ttl: 600"), which
// decodes as nanoseconds.
const minFlowTTL = time.Second

// reauth_warning's bounds: an hour catches a bare number of seconds, and a
// year is longer than any login ends.
const (
	minReauthWarning = time.Hour
	maxReauthWarning = 365 * 24 * time.Hour
)

// durationText is d as a person writes it: 14d, 1h, 10m, 90s, 5ns.
func durationText(d time.Duration) string {
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d > 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d > 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// Validate reports every setting that is unusable, one *SettingError per
// key, each message starting with the key's name. Load has already called
// it on the Config it returns.
func (c Config) Validate() error {
	var errs []error
	check := func(key string, err error) {
		if err != nil {
			errs = append(errs, settingError(key, err))
		}
	}
	check("bus_url", checkBusURL(c.BusURL))
	if c.EmbeddedBus != "" {
		check("embedded_bus", checkHostPort(c.EmbeddedBus))
	}
	check("data_dir", checkDir(c.DataDir))
	check("listen", checkHostPort(c.Listen))
	check("public_host", checkPublicHost(c.PublicHost))
	check("qr_dir", checkDir(c.QRDir))
	if c.FlowTTL < minFlowTTL {
		check("flow_ttl", &SettingError{Value: durationText(c.FlowTTL), Problem: ProblemRange, Min: durationText(minFlowTTL),
			Err: fmt.Errorf("%v is shorter than %v (give a unit, e.g. 10m)", c.FlowTTL, minFlowTTL)})
	}
	if c.ReauthWarning < minReauthWarning || c.ReauthWarning > maxReauthWarning {
		check("reauth_warning", &SettingError{Value: durationText(c.ReauthWarning), Problem: ProblemRange,
			Min: durationText(minReauthWarning), Max: durationText(maxReauthWarning),
			Err: fmt.Errorf("%v is not from %v to %v (give a unit, e.g. 14d or 72h)", c.ReauthWarning, minReauthWarning, maxReauthWarning)})
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		check("log_format", invalid(c.LogFormat, fmt.Errorf("%q is not text or json", c.LogFormat)))
	}
	if c.RelayURL != "" {
		check("relay_url", checkRelayURL(c.RelayURL))
	}
	if _, ok := parseLevel(c.LogLevel); !ok {
		check("log_level", invalid(c.LogLevel, fmt.Errorf("%q is not debug, info, warn or error", c.LogLevel)))
	}
	check("secrets_key_file", checkFile(c.SecretsKeyFile))
	check("bus_secret_key", checkSecretKey(c.BusSecretKey))
	if c.MetricsListen != "" {
		check("metrics_listen", checkHostPort(c.MetricsListen))
	}
	check("lang", checkLang(c.Lang))
	return errors.Join(errs...)
}

// checkSecretKey accepts no key or one whose UTF-8 bytes are an AES key, as
// ovos-bus-client uses them. Its errors give the length, never the key.
func checkSecretKey(k Secret) error {
	switch len(k) {
	case 0, 16, 24, 32:
		return nil
	}
	return &SettingError{Hidden: true, Size: len(k), Problem: ProblemInvalid, Want: WantAESKey,
		Err: fmt.Errorf("is %d bytes long; want 16, 24 or 32 (ASCII characters: AES-128, AES-192 or AES-256), as the bus's websocket.secret_key", len(k))}
}

// checkLang accepts a language tag as OVOS writes them (en-us, pt_BR,
// ca-es): letters, digits, hyphens and underscores. Empty is English.
func checkLang(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 35 {
		return invalid(s, fmt.Errorf("%q is not a language tag like en-us or pt-PT", s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid(s, fmt.Errorf("%q is not a language tag like en-us or pt-PT", s))
		}
	}
	return nil
}

// DBPath is the path of the bbolt token database inside DataDir.
func (c Config) DBPath() string { return filepath.Join(c.DataDir, dbFile) }

// LogLevelValue is LogLevel as a slog.Level; slog.LevelInfo if LogLevel is
// not valid.
func (c Config) LogLevelValue() slog.Level {
	l, ok := parseLevel(c.LogLevel)
	if !ok {
		return slog.LevelInfo
	}
	return l
}

func parseLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// checkBusURL accepts a ws:// or wss:// URL with a host. Its errors show
// the URL as bus.RedactURL does: user info or a query may hold a password.
func checkBusURL(s string) error {
	if s == "" {
		return empty(errors.New("is empty"))
	}
	u, err := url.Parse(s)
	if err != nil {
		// Unwrapped: url.Error's text quotes the whole URL.
		return &SettingError{Hidden: true, Problem: ProblemInvalid, Err: fmt.Errorf("is not a URL (%v); want ws://host:port/route", errors.Unwrap(err))}
	}
	shown := bus.RedactURL(s)
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return invalid(shown, fmt.Errorf("%s is not a ws:// or wss:// URL", shown))
	}
	if u.Hostname() == "" {
		return invalid(shown, fmt.Errorf("%s has no host", shown))
	}
	if u.User != nil {
		return invalid(shown, fmt.Errorf("%s: a websocket URL cannot carry user info (user:password@), and the OVOS bus asks for none; remove it", shown))
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return invalid(shown, fmt.Errorf("%s: %w", shown, err))
		}
	}
	return nil
}

// checkRelayURL accepts what the relay page can be served at: it is
// registered at providers as a redirect URI, which they compare exactly.
func checkRelayURL(s string) error {
	if err := relay.CheckPageURL(s); err != nil {
		return invalid(s, fmt.Errorf("%q %w", s, err))
	}
	return nil
}

// checkHostPort accepts what net.Listen accepts for TCP with a numeric port:
// an empty host means every interface, port 0 any free port.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return invalid(s, fmt.Errorf("%q is not host:port", s))
	}
	if _, err := parsePort(port); err != nil {
		return invalid(s, fmt.Errorf("%q: %w", s, err))
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", s)
	}
	return uint16(n), nil
}

func checkDir(s string) error {
	switch {
	case s == "":
		return empty(errors.New("is empty (set it, or set STATE_DIRECTORY, XDG_STATE_HOME or HOME)"), "STATE_DIRECTORY", "XDG_STATE_HOME", "HOME")
	case !filepath.IsAbs(s):
		return invalid(s, fmt.Errorf("%q is not an absolute path", s))
	}
	return nil
}

func checkFile(s string) error {
	switch {
	case s == "":
		return empty(errors.New("is empty (set it, or set data_dir)"), "data_dir")
	case !filepath.IsAbs(s):
		return invalid(s, fmt.Errorf("%q is not an absolute path", s))
	}
	return nil
}

// checkPublicHost refuses what a phone cannot reach and what skills cannot
// paste into "http://{host}:{port}": the unspecified address and IPv6
// literals, which would need brackets.
func checkPublicHost(s string) error {
	if s == "" {
		return empty(errors.New("is empty"))
	}
	if a, err := netip.ParseAddr(s); err == nil {
		switch {
		case a.IsUnspecified():
			return invalid(s, fmt.Errorf("%s is not an address other devices can reach", s))
		case !a.Is4():
			return invalid(s, fmt.Errorf("%s: want an IPv4 address or a host name", s))
		}
		return nil
	}
	if !isHostname(s) {
		return invalid(s, fmt.Errorf("%q is not an IPv4 address or a host name", s))
	}
	return nil
}

// isHostname reports whether s is a plausible DNS or mDNS host name. It is
// deliberately loose (underscores pass) but keeps out anything that would
// change the meaning of a URL it is pasted into.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return !strings.Contains(s, "..")
}
