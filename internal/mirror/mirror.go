// Package mirror copies ovos-oauth's apps and tokens into the JSON files that
// ovos_utils.oauth reads, for Python skills that take tokens from there.
//
// ovos_utils keeps two json_database files (JsonStorageXDG) in
// $XDG_CACHE_HOME/mycroft/json_database, both objects keyed by munged id:
//
//	ovos_oauth.json       munged id → the provider's token response
//	ovos_oauth_apps.json  munged id → the app record its refresh helper reads
//
// Other programs write their own keys into the same files (a Spotify plugin
// keeps "ocp_spotify" there), so every change is a read-modify-write of one
// key that leaves every other value as it was, done under the lock
// json_database takes: an exclusive flock(2) on
// <tempdir>/<file name>.lock. Files are replaced atomically (temporary file,
// fsync, rename) with mode 0600, as they hold client secrets and refresh
// tokens.
package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// DefaultTimeout is how long a write waits for another process's lock when
// Files.Timeout is not set.
const DefaultTimeout = 10 * time.Second

// MarkKey is the field ovos-oauth puts into every entry it writes, app or
// token: the mark that tells the daemon's own entries from those another
// program wrote, so that an import never takes a database's mirror for the
// Python plugin's files. Its value names the database (Files.Owner), so
// that a daemon never takes a refresh token that another one, sharing the
// folder, wrote there; it travels with the files (a copy, a backup, another
// data directory beside them). ovos_utils and the programs that read these
// files look up their fields by name and pass the rest along: a skill sees
// one key more in its token. A program that rewrites an entry whole (the
// plugin registering an app again, a Spotify plugin saving the token it
// refreshed) drops the mark from that entry; one that updates it in place
// (ovos_utils' refresh helper) keeps it.
const MarkKey = "_ovos_oauth"

// The file names ovos_utils.oauth gives its JsonStorageXDG databases.
const (
	tokensName = "ovos_oauth.json"
	appsName   = "ovos_oauth_apps.json"
)

var _ oauth.Mirror = (*Files)(nil)

// Files is an oauth.Mirror that writes the json_database files of
// ovos_utils.oauth in Dir.
//
// The exported fields are options, set by New and changeable before first
// use; an empty LockDir and a zero or negative Timeout mean the defaults.
// After that a Files is safe for concurrent use by multiple goroutines: writes
// to one file are serialized in the process by a mutex and across processes
// by json_database's flock, which also keeps Files values in one process that
// share a Dir from losing each other's changes. A call waits for the calls
// ahead of it in the process, then at most Timeout for the flock; the two
// files are locked apart, never together. A Files must not be copied after
// first use.
type Files struct {
	Dir     string        // the json_database directory, made 0700 if missing
	LockDir string        // where the .lock files live; default os.TempDir()
	Timeout time.Duration // how long to wait for another process's lock; default DefaultTimeout
	// Owner names the database whose mirror this is, in the mark of every
	// entry written (see MarkKey); "" marks them true.
	Owner string

	tokensMu sync.Mutex // held across a read-modify-write of the token file
	appsMu   sync.Mutex // held across a read-modify-write of the apps file
}

// New returns a Files writing into dir with default options. Nothing is
// created on disk until the first write.
func New(dir string) *Files {
	return &Files{Dir: dir, Timeout: DefaultTimeout}
}

// DefaultDir returns the directory where ovos_utils.oauth keeps its files,
// $XDG_CACHE_HOME/mycroft/json_database, with $HOME/.cache standing in for
// an unset or relative XDG_CACHE_HOME as the XDG spec asks. It returns ""
// when neither variable is usable. "mycroft" is ovos-config's default base
// folder; a system that configures another one needs its own Dir.
func DefaultDir(getenv func(string) string) string {
	base := getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(base) {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "mycroft", "json_database")
}

// TokenFile returns the path of the token file, ovos_oauth.json in Dir.
func (f *Files) TokenFile() string { return filepath.Join(f.Dir, tokensName) }

// AppsFile returns the path of the apps file, ovos_oauth_apps.json in Dir.
func (f *Files) AppsFile() string { return filepath.Join(f.Dir, appsName) }

// PutApp writes app's record into the apps file under its munged id, with
// redirectURI as its callback endpoint; when the file holds that record
// already, it is read and not written. It does not keep app. It is safe for
// concurrent use.
func (f *Files) PutApp(app *oauth.App, redirectURI string) error {
	value, err := marshalValue(appRecordOf(app, redirectURI, f.Owner))
	if err != nil {
		return err
	}
	id := app.MungedID()
	return f.update(appsName, &f.appsMu, putKey(id, value))
}

// PutToken writes tok, refresh token included, into the token file under
// app's munged id. It does not keep app or tok, but reads tok.Raw, which must
// not change until it returns. It is safe for concurrent use.
func (f *Files) PutToken(app *oauth.App, tok *oauth.Token) error {
	value, err := marshalValue(tokenRecordOf(tok, f.Owner))
	if err != nil {
		return err
	}
	id := app.MungedID()
	return f.update(tokensName, &f.tokensMu, putKey(id, value))
}

// TokenWritten returns a closed channel: PutToken returns once the file
// holds the token.
func (f *Files) TokenWritten(string) <-chan struct{} { return closedChan }

// DeleteToken removes the token stored under mungedID from the token file.
// Removing one that is not there is not an error and writes nothing. It is
// safe for concurrent use.
func (f *Files) DeleteToken(mungedID string) error {
	return f.update(tokensName, &f.tokensMu, deleteKey(mungedID))
}

// DeleteApp removes the token and the app record stored under mungedID,
// from the token file and the apps file in turn; a failure with one does not
// stop the other. Removing what is not there is not an error. It is safe for
// concurrent use.
func (f *Files) DeleteApp(mungedID string) error {
	return errors.Join(
		f.update(tokensName, &f.tokensMu, deleteKey(mungedID)),
		f.update(appsName, &f.appsMu, deleteKey(mungedID)),
	)
}

// RefreshToken returns the refresh_token in the token file's entry for
// mungedID, "" when there is no such entry or field, and the entry's
// expires_at (zero when absent). ovos_utils' refresh helper may have
// replaced it, rotating the daemon's away. An entry that the mirror of
// another database wrote (its mark names another Owner) has none for this
// one: that database's daemon holds that refresh token. It takes the same
// locks as a write and writes nothing. It is safe for concurrent use.
func (f *Files) RefreshToken(mungedID string) (oauth.Secret, time.Time, error) {
	f.tokensMu.Lock()
	defer f.tokensMu.Unlock()
	return f.readRefreshToken(mungedID, f.timeout())
}

// readRefreshToken is RefreshToken without the process's mutex, waiting at
// most timeout for the file's lock.
func (f *Files) readRefreshToken(mungedID string, timeout time.Duration) (oauth.Secret, time.Time, error) {
	raw, err := f.readEntry(mungedID, timeout)
	if raw == nil || err != nil {
		return "", time.Time{}, err
	}
	rt, exp := refreshTokenOf(raw)
	return rt, exp, nil
}

// Token returns the token in the token file's entry for mungedID as the
// daemon would take it from another program: nil when there is no such
// entry, it has no access token, or the mirror of another database wrote it
// (see RefreshToken). Its Expiry is the entry's expires_at, its Obtained
// that less expires_in (zero without both), and its Raw the entry's other
// fields, the mark left out. It takes the same locks as a write and writes
// nothing. It is safe for concurrent use.
func (f *Files) Token(mungedID string) (*oauth.Token, error) {
	f.tokensMu.Lock()
	defer f.tokensMu.Unlock()
	raw, err := f.readEntry(mungedID, f.timeout())
	if raw == nil || err != nil {
		return nil, err
	}
	return tokenOf(raw), nil
}

// readEntry returns the token file's entry for mungedID, nil when there is
// none or the mirror of another database wrote it, without the process's
// mutex, waiting at most timeout for the file's lock.
func (f *Files) readEntry(mungedID string, timeout time.Duration) (json.RawMessage, error) {
	if f.Dir == "" {
		return nil, errors.New("mirror: no directory set")
	}
	path := f.TokenFile()
	release, err := lockFile(filepath.Join(f.lockDir(), tokensName+".lock"), timeout)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no lock directory: nothing was written
	}
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", path, err)
	}
	defer release()
	entries, err := readEntries(path)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", path, err)
	}
	if raw, ok := entries[mungedID]; ok && !f.others(raw) {
		return raw, nil
	}
	return nil, nil
}

// others reports whether an entry carries the mark of another database
// than f.Owner. Without an Owner, no entry is another's.
func (f *Files) others(raw json.RawMessage) bool {
	if f.Owner == "" {
		return false
	}
	v, ok := markOf(raw)
	if !ok {
		return false
	}
	var owner string
	return json.Unmarshal(v, &owner) != nil || owner != f.Owner
}

// putKey sets id's entry to value; the file is written only when that
// changes it.
func putKey(id string, value json.RawMessage) func(map[string]json.RawMessage) bool {
	return func(entries map[string]json.RawMessage) bool {
		if old, ok := entries[id]; ok && sameValue(old, value) {
			return false
		}
		entries[id] = value
		return true
	}
}

func deleteKey(id string) func(map[string]json.RawMessage) bool {
	return func(entries map[string]json.RawMessage) bool {
		if _, ok := entries[id]; !ok {
			return false
		}
		delete(entries, id)
		return true
	}
}

// appRecord is one value of the apps file, in the field order
// OAuthApplicationDatabase.add_application writes. The client credentials
// are pointers so an absent one is null, as Python's None.
type appRecord struct {
	OAuthService     string  `json:"oauth_service"`
	ClientID         *string `json:"client_id"`
	ClientSecret     *string `json:"client_secret"`
	AuthEndpoint     string  `json:"auth_endpoint"`
	TokenEndpoint    string  `json:"token_endpoint"`
	CallbackEndpoint string  `json:"callback_endpoint"`
	Scope            string  `json:"scope"`
	ShellIntegration bool    `json:"shell_integration"`
	Mark             any     `json:"_ovos_oauth"` // MarkKey: the Owner, or true
}

// markValue is the value of MarkKey for the database owner.
func markValue(owner string) any {
	if owner == "" {
		return true
	}
	return owner
}

func appRecordOf(app *oauth.App, redirectURI, owner string) appRecord {
	rec := appRecord{
		OAuthService:     app.MungedID(),
		AuthEndpoint:     app.AuthEndpoint,
		TokenEndpoint:    app.TokenEndpoint,
		CallbackEndpoint: redirectURI,
		Scope:            app.Scope,
		ShellIntegration: app.ShellIntegration,
		Mark:             markValue(owner),
	}
	if app.ClientID != "" {
		rec.ClientID = &app.ClientID
	}
	if app.ClientSecret != "" {
		secret := app.ClientSecret.Reveal()
		rec.ClientSecret = &secret
	}
	return rec
}

// tokenRecordOf returns the token as the provider sent it, with the fields
// the engine keeps apart (or learnt later) and the mark laid over it: the
// Token's fields are the truth where the two differ.
func tokenRecordOf(tok *oauth.Token, owner string) map[string]any {
	rec := make(map[string]any, len(tok.Raw)+7)
	maps.Copy(rec, tok.Raw)
	rec[MarkKey] = markValue(owner)
	rec["access_token"] = tok.AccessToken.Reveal()
	if tok.RefreshToken != "" {
		rec["refresh_token"] = tok.RefreshToken.Reveal()
	} else {
		delete(rec, "refresh_token")
	}
	if tok.TokenType != "" {
		rec["token_type"] = tok.TokenType
	}
	if tok.Scope != "" {
		rec["scope"] = tok.Scope
	}
	if !tok.Expiry.IsZero() {
		rec["expires_at"] = pythonFloat(float64(tok.Expiry.UnixMicro()) / 1e6)
		// ovos_utils' refresh helper adds expires_in to time.time() when a
		// provider's answer lacks expires_at, so it must be there.
		if _, ok := rec["expires_in"]; !ok && tok.Expiry.After(tok.Obtained) && !tok.Obtained.IsZero() {
			rec["expires_in"] = int64(tok.Expiry.Sub(tok.Obtained) / time.Second)
		}
	}
	return rec
}

// Marked reports whether an entry of either file carries MarkKey with a
// value other than false or null: ovos-oauth wrote it, and no program since
// replaced it whole. The key is looked for as ovos-oauth and Python's json
// module write it, never escaped. It decodes nothing, as an import beside
// another daemon's mirror checks thousands of entries at start; the entries
// it gets were read from a file that parsed as JSON, and on any other input
// it may answer wrong, but never panics.
func Marked(raw json.RawMessage) bool {
	v, ok := markOf(raw)
	return ok && !bytes.Equal(v, []byte("false")) && !bytes.Equal(v, []byte("null"))
}

// markOf returns the raw value of the entry's own MarkKey, the last of
// several as a JSON decoder takes it; ok is false without one.
func markOf(raw json.RawMessage) (value []byte, ok bool) {
	if !bytes.Contains(raw, markQuoted) {
		return nil, false // the plugin's entries, at the cost of a search
	}
	raw = bytes.Trim(raw, jsonSpace)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	// The entry's own keys, not those of objects inside it.
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] == '"' {
		end := skipString(raw, i)
		key := raw[i:end]
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return nil, false
		}
		if i = skipSpace(raw, i+1); i >= len(raw) {
			return nil, false
		}
		end = skipValue(raw, i)
		if bytes.Equal(key, markQuoted) && end > i {
			value = raw[i:end]
		}
		if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	if i >= len(raw) || raw[i] != '}' {
		return nil, false // cut short
	}
	return value, value != nil
}

var markQuoted = []byte(`"` + MarkKey + `"`)

// pythonFloat formats v so that Python's json module reads a float, even for
// a whole number: 1767322800.0, not 1767322800.
func pythonFloat(v float64) json.Number {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return json.Number(s)
}
