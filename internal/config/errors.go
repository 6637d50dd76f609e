package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The errors of Load that a person can act on are typed: a *SettingError
// for a value, a *FileError for a file of settings. Their Error is
// English, for logs; their fields let a program word them in the
// person's language. Load's error may hold several of them (Validate's
// reports every unusable setting): walk its tree, errors.Join's and
// wrapping alike.

// SettingError is an error about one setting: its name, where its value
// was set, the value, and what is wrong.
type SettingError struct {
	// Setting is the setting's key (flow_ttl), or the path of a value in
	// mycroft.conf (websocket.port); "" for ProblemArgument.
	Setting string
	// From says where the value was set, Source names it: the flag
	// (--flow-ttl), the environment variable (OVOS_OAUTH_FLOW_TTL) or the
	// file. Source is "" from FromDefault: a default, or a value Load
	// cannot trace.
	From   Origin
	Source string
	// Value is the value refused, as it may be shown. A Hidden value is
	// not: a secret, whose length is Size bytes, or a URL that did not
	// parse, which may hold a password.
	Value  string
	Hidden bool
	Size   int
	// Problem says what is wrong; Want is what the setting takes, with
	// Choices the values of WantOneOf.
	Problem Problem
	Want    Want
	Choices []string
	// Min and Max bound a value of ProblemRange, as a person writes them
	// (1h, 365d); Max is "" for no upper bound.
	Min, Max string
	// Or are the environment variables one of which gives a setting of
	// ProblemEmpty its default.
	Or []string
	// Err says it in English.
	Err error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Flag is the flag of the setting, --flow-ttl; "" for a value of
// mycroft.conf.
func (e *SettingError) Flag() string {
	if !slices.Contains(keys, e.Setting) {
		return ""
	}
	return "--" + flagName(e.Setting)
}

// Origin says where a setting's value was set.
type Origin int

const (
	FromDefault Origin = iota
	FromFlag
	FromEnv
	FromFile
)

// Problem says what is wrong with a setting.
type Problem int

const (
	// ProblemInvalid: the value is not what the setting takes (Want).
	ProblemInvalid Problem = iota
	// ProblemRange: the value is below Min or above Max.
	ProblemRange
	// ProblemEmpty: the setting has no value, and none of Or is set to
	// give it one.
	ProblemEmpty
	// ProblemUnknown: a file sets a key that is no setting. Setting lists
	// them, separated by ", ".
	ProblemUnknown
	// ProblemArgument: serve was given an argument, Value, that is not a
	// flag.
	ProblemArgument
)

// Want is what a setting takes.
type Want int

const (
	WantNone       Want = iota
	WantBusURL          // ws:// or wss://, a host, no user info
	WantHostPort        // host:port, a numeric port
	WantPath            // an absolute path
	WantPublicHost      // an IPv4 address or host name other devices reach
	WantHost            // a host name or IP address
	WantPort            // a port number
	WantDuration        // a duration with a unit (90s, 14d)
	WantOneOf           // one of Choices
	WantBool            // true or false
	WantRelayURL        // https://host/path, nothing more
	WantAESKey          // 16, 24 or 32 bytes of text
	WantLang            // a language tag
	WantRoute           // a URL path
	WantObject          // a JSON object
)

// wants is what each setting, and each value of mycroft.conf that Load
// reads, takes.
var wants = map[string]Want{
	"bus_url":               WantBusURL,
	"embedded_bus":          WantHostPort,
	"data_dir":              WantPath,
	"listen":                WantHostPort,
	"public_host":           WantPublicHost,
	"qr_dir":                WantPath,
	"flow_ttl":              WantDuration,
	"reauth_warning":        WantDuration,
	"log_format":            WantOneOf,
	"log_level":             WantOneOf,
	"mirror_ovos_utils":     WantBool,
	"relay_url":             WantRelayURL,
	"secrets_key_file":      WantPath,
	"bus_secret_key":        WantAESKey,
	"bus_allow_unencrypted": WantBool,
	"import_from":           WantPath,
	"import_on_start":       WantBool,
	"metrics_listen":        WantHostPort,
	"lang":                  WantLang,

	"websocket":                        WantObject,
	"websocket.host":                   WantHost,
	"websocket.port":                   WantPort,
	"websocket.route":                  WantRoute,
	"websocket.ssl":                    WantBool,
	"websocket.secret_key":             WantAESKey,
	"websocket.allow_unencrypted":      WantBool,
	"PHAL":                             WantObject,
	"PHAL.ovos-PHAL-plugin-oauth":      WantObject,
	"PHAL.ovos-PHAL-plugin-oauth.port": WantPort,
}

// choices are the values of the settings of WantOneOf.
var choices = map[string][]string{
	"log_format": {"text", "json"},
	"log_level":  {"debug", "info", "warn", "error"},
}

// invalid is the error of a value that is not what its setting takes.
func invalid(value string, err error) error {
	return &SettingError{Value: value, Problem: ProblemInvalid, Err: err}
}

// empty is the error of a setting without a value, which one of or would
// give it.
func empty(err error, or ...string) error {
	return &SettingError{Problem: ProblemEmpty, Or: or, Err: err}
}

// settingError is err, the error of a check of setting key, as a
// *SettingError of that setting, its English text led by the key.
func settingError(key string, err error) *SettingError {
	e, ok := err.(*SettingError)
	if !ok {
		e = &SettingError{Problem: ProblemInvalid, Err: err}
	}
	e.Setting = key
	e.Err = fmt.Errorf("%s: %w", key, e.Err)
	e.describe()
	return e
}

// describe fills in what the setting takes, and hides a secret.
func (e *SettingError) describe() {
	if e.Want == WantNone {
		e.Want = wants[e.Setting]
	}
	if e.Choices == nil {
		e.Choices = choices[e.Setting]
	}
	if slices.Contains(secretKeys, e.Setting) || e.Setting == "websocket.secret_key" {
		e.Value, e.Hidden = "", true
	}
}

// from sets where the value was set, unless known.
func (e *SettingError) from(o Origin, source string) {
	if e.From == FromDefault {
		e.From, e.Source = o, source
	}
}

// FileError is an error about a whole file of settings: ovos-oauth's
// config file or a mycroft.conf.
type FileError struct {
	Path    string
	Problem FileProblem
	// Format is the language of a file of FileSyntax, YAML or JSON, and
	// Line the line of the mistake; 0 if not known.
	Format string
	Line   int
	// Err says it in English; for FileUnreadable it wraps the cause, so
	// that a missing file matches fs.ErrNotExist.
	Err error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// FileProblem says what is wrong with a file of settings.
type FileProblem int

const (
	// FileUnreadable: the file cannot be read (Err says why).
	FileUnreadable FileProblem = iota
	// FileSyntax: it is not valid YAML or JSON.
	FileSyntax
	// FileName: ovos-oauth's config file does not end in .yaml, .yml or
	// .json.
	FileName
)

var yamlLine = regexp.MustCompile(`\byaml: line (\d+)\b`)

// syntaxError is the error of a file of format whose content data does
// not parse, with the line of the mistake when err tells it.
func syntaxError(format string, data []byte, err, english error) *FileError {
	line := 0
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		line = 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
	} else if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &FileError{Problem: FileSyntax, Format: format, Line: line, Err: english}
}

// withSettings is err, whose English text it keeps, and the
// *SettingErrors that say it for a program.
type withSettings struct {
	err      error
	settings []error
}

func (e *withSettings) Error() string   { return e.err.Error() }
func (e *withSettings) Unwrap() []error { return append([]error{e.err}, e.settings...) }

// decodeSettingErrors is english, the error of decoding m, the settings
// of one source, with a *SettingError for each setting that did not
// decode.
func decodeSettingErrors(english, err error, m map[string]any, o Origin, source string) error {
	var settings []error
	var walk func(error)
	walk = func(err error) {
		// mapstructure's *DecodeError, which names the setting.
		if d, ok := err.(interface{ Name() string }); ok {
			if v, ok := m[d.Name()]; ok {
				e := &SettingError{Setting: d.Name(), Value: fmt.Sprint(v), Problem: ProblemInvalid, Err: err}
				e.describe()
				e.from(o, source)
				settings = append(settings, e)
				return
			}
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
	if len(settings) == 0 {
		return english
	}
	return &withSettings{english, settings}
}

// shownRaw is a JSON value as a person wrote it: a string without its
// quotes.
func shownRaw(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}
