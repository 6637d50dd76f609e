// Package migrate imports the apps and tokens of ovos-PHAL-plugin-oauth, the
// Python plugin ovos-oauth replaces, into ovos-oauth's store, so that skills
// keep their logins across the switch.
//
// The plugin keeps them in ovos_utils.oauth's two json_database files,
// ovos_oauth_apps.json and ovos_oauth.json, the very files package mirror
// writes for ovos_utils; they are read with mirror's reader, under
// json_database's lock, and never written. An app record gives the client
// credentials, the endpoints, the scope and shell_integration (its
// callback_endpoint and refresh_endpoint are the plugin's and are dropped);
// a token record is the provider's token response with a float expires_at,
// which becomes the Token's Expiry, so the engine refreshes a due token on
// its timer instead of asking for a new login.
//
// ovos-oauth's own mirror writes to the same files, and marks every entry it
// writes (mirror.MarkKey). Those entries are the mirror of a store, this
// daemon's or another's, and are never imported: a second store holding them
// would refresh the same rotating refresh token as the first, and one of the
// two would end in invalid_grant. Only what another program wrote is
// imported.
package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// The plugin's file names, as Report names them.
const (
	AppsFile   = "ovos_oauth_apps.json"
	TokensFile = "ovos_oauth.json"
)

// Report is what an import did.
type Report struct {
	// Imported lists the apps put into the store, by munged id.
	Imported []Imported
	// Kept lists the munged ids of apps the store had already: they and
	// their tokens are left as they are, the plugin's copies ignored.
	Kept []string
	// Skipped lists the entries (or whole files) that could not be read.
	Skipped []Skipped
	// Mirrored lists the munged ids of apps whose app or token entry
	// ovos-oauth's mirror wrote: the apps of a store, never imported into
	// another. Not an error, and not in Skipped.
	Mirrored []string
}

// Imported is one app put into the store.
type Imported struct {
	MungedID string
	SkillID  string
	AppID    string
	// Token says whether its token came with it.
	Token bool
	// Expiry is the token's expiry, zero without a token or without one
	// given.
	Expiry time.Time
	// Guessed says the munged id holds more than one "_", so that the split
	// into skill id and app id is a guess (at the first "_"); the plugin
	// kept only the joined form.
	Guessed bool
}

// Skipped is an entry that was not imported, and why. Name is the entry's
// key (a munged id), or "" when the whole file could not be read.
type Skipped struct {
	File string
	Name string
	// Reason says why in English, for the log.
	Reason string
	// Problems says why as codes, for a person in their language.
	Problems []Problem
}

// SkipReason is a code of why an entry or a file was skipped.
type SkipReason string

// The reasons an entry or a file is skipped.
const (
	SkipFileNotObject SkipReason = "file_not_object" // the whole file is not a JSON object
	SkipBadID         SkipReason = "bad_id"          // the key is not a munged id
	SkipNotObject     SkipReason = "not_object"      // the entry is not a JSON object
	SkipMissing       SkipReason = "missing"         // Field is missing
	SkipNotURL        SkipReason = "not_url"         // Field is not an http or https URL
	SkipNotString     SkipReason = "not_string"      // Field is not a string
	SkipNotBool       SkipReason = "not_bool"        // Field is not true or false
	SkipNotNumber     SkipReason = "not_number"      // Field is not a number
	SkipNoApp         SkipReason = "no_app"          // a token whose app is not in AppsFile
	SkipAppSkipped    SkipReason = "app_skipped"     // a token whose app was skipped
)

// Problem is one reason an entry was skipped; Field is the entry's field
// it is about, if any.
type Problem struct {
	Reason SkipReason
	Field  string
}

// String says the problem in English.
func (p Problem) String() string {
	switch p.Reason {
	case SkipFileNotObject:
		return mirror.ErrNotObject.Error()
	case SkipBadID:
		return "not a valid munged id (<skill_id>_<app_id>, letters, digits, '.', '_' and '-')"
	case SkipNotObject:
		return "not a JSON object"
	case SkipMissing:
		return p.Field + " is missing"
	case SkipNotURL:
		return p.Field + " is not an http or https URL"
	case SkipNotString:
		return p.Field + " is not a string"
	case SkipNotBool:
		return p.Field + " is not true or false"
	case SkipNotNumber:
		return p.Field + " is not a number"
	case SkipNoApp:
		return "no app of that name in " + AppsFile
	case SkipAppSkipped:
		return "its app in " + AppsFile + " was skipped"
	}
	return string(p.Reason)
}

// problems is the error of an entry that cannot be imported.
type problems []Problem

func (e problems) Error() string {
	words := make([]string, len(e))
	for i, p := range e {
		words[i] = p.String()
	}
	return strings.Join(words, "; ")
}

// skip is the Skipped of entry name of file, for err.
func skip(file, name string, err error) Skipped {
	sk := Skipped{File: file, Name: name, Reason: err.Error()}
	if ps, ok := errors.AsType[problems](err); ok {
		sk.Problems = ps
	}
	return sk
}

// Files is what the plugin's two files in Dir hold: their entries, keyed by
// munged id, each value as its raw JSON text. Skipped lists a file that is
// not a JSON object, read as empty. It is what Read returns and ImportFiles
// takes, and encodes as JSON, so that one process can read the files and
// another import them.
type Files struct {
	Dir string `json:"dir"`
	// Found says whether either file is there.
	Found   bool                       `json:"found"`
	Apps    map[string]json.RawMessage `json:"apps"`
	Tokens  map[string]json.RawMessage `json:"tokens"`
	Skipped []Skipped                  `json:"skipped,omitempty"`
}

// Read reads the plugin's files in dir, under json_database's lock, and
// never writes them. A file that is missing is empty; one that is not a
// JSON object is listed in Skipped and read as empty. It returns an error
// when a file cannot be read at all.
func Read(dir string) (Files, error) {
	f := Files{Dir: dir}
	for _, name := range []string{AppsFile, TokensFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			f.Found = true
		}
	}
	files := mirror.New(dir)
	var err error
	f.Apps, err = files.Apps()
	if err != nil {
		if !errors.Is(err, mirror.ErrNotObject) {
			return f, fmt.Errorf("read %s: %w", AppsFile, err)
		}
		f.Skipped = append(f.Skipped, Skipped{File: AppsFile, Reason: err.Error(), Problems: []Problem{{Reason: SkipFileNotObject}}})
	}
	f.Tokens, err = files.Tokens()
	if err != nil {
		if !errors.Is(err, mirror.ErrNotObject) {
			return f, fmt.Errorf("read %s: %w", TokensFile, err)
		}
		f.Skipped = append(f.Skipped, Skipped{File: TokensFile, Reason: err.Error(), Problems: []Problem{{Reason: SkipFileNotObject}}})
	}
	return f, nil
}

// Import reads the plugin's files in dir (see Read) and imports them into st
// (see ImportFiles). It returns an error, with what it imported so far, when
// a file cannot be read at all (other than not being a JSON object) or st
// fails.
func Import(st oauth.Store, dir string, now time.Time) (Report, error) {
	f, err := Read(dir)
	if err != nil {
		return Report{}, err
	}
	return ImportFiles(st, f, now)
}

// ImportFiles puts every app of f that st does not have yet into st, then
// its token, except the apps ovos-oauth's mirror wrote (Report.Mirrored).
// It never replaces an app or a token st has. Entries it cannot read are
// reported in the Report and skipped. It returns an error, with what it
// imported so far, when st fails. now stamps the new apps and stands in for
// when a token was issued, where its record does not tell.
func ImportFiles(st oauth.Store, f Files, now time.Time) (Report, error) {
	rep := Report{Skipped: slices.Clone(f.Skipped)}
	apps, tokens := f.Apps, f.Tokens

	mirrored := mirroredApps(apps, tokens)
	rep.Mirrored = slices.Sorted(maps.Keys(mirrored))

	unread := make(map[string]bool) // apps skipped
	for _, id := range slices.Sorted(maps.Keys(apps)) {
		if mirrored[id] {
			continue
		}
		app, guessed, err := parseApp(id, apps[id], now)
		if err != nil {
			rep.Skipped = append(rep.Skipped, skip(AppsFile, id, err))
			unread[id] = true
			continue
		}
		switch _, err := st.App(id); {
		case err == nil:
			rep.Kept = append(rep.Kept, id)
			continue
		case !errors.Is(err, oauth.ErrNotFound):
			return rep, fmt.Errorf("read app %s from the store: %w", id, err)
		}
		var tok *oauth.Token
		if raw, ok := tokens[id]; ok {
			if tok, err = parseToken(raw, now); err != nil {
				rep.Skipped = append(rep.Skipped, skip(TokensFile, id, err))
			}
		}
		if err := st.PutApp(app, false); err != nil {
			return rep, fmt.Errorf("store app %s: %w", id, err)
		}
		imp := Imported{MungedID: id, SkillID: app.SkillID, AppID: app.AppID, Guessed: guessed}
		if tok != nil {
			if err := st.PutToken(id, tok); err != nil {
				return rep, fmt.Errorf("store the token of %s: %w", id, err)
			}
			imp.Token, imp.Expiry = true, tok.Expiry
		}
		rep.Imported = append(rep.Imported, imp)
	}
	for _, id := range slices.Sorted(maps.Keys(tokens)) {
		switch _, ok := apps[id]; {
		case mirrored[id]:
		case !ok:
			rep.Skipped = append(rep.Skipped, skip(TokensFile, id, problems{{Reason: SkipNoApp}}))
		case unread[id]:
			rep.Skipped = append(rep.Skipped, skip(TokensFile, id, problems{{Reason: SkipAppSkipped}}))
		}
	}
	return rep, nil
}

// mirroredApps returns the apps ovos-oauth's mirror wrote: those with an
// entry in apps or tokens that carries its mark.
func mirroredApps(apps, tokens map[string]json.RawMessage) map[string]bool {
	mirrored := make(map[string]bool)
	for id, raw := range apps {
		if mirror.Marked(raw) {
			mirrored[id] = true
		}
	}
	for id, raw := range tokens {
		if !mirrored[id] && mirror.Marked(raw) {
			mirrored[id] = true
		}
	}
	return mirrored
}

// parseApp reads one entry of the apps file. guessed reports a munged id
// with more than one "_".
func parseApp(id string, raw json.RawMessage, now time.Time) (app *oauth.App, guessed bool, err error) {
	skillID, appID, guessed, ok := splitMungedID(id)
	if !ok {
		return nil, false, problems{{Reason: SkipBadID}}
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil || rec == nil {
		return nil, false, problems{{Reason: SkipNotObject}}
	}
	f := fields{rec: rec}
	app = &oauth.App{
		SkillID:          skillID,
		AppID:            appID,
		ClientID:         f.str("client_id"),
		ClientSecret:     oauth.Secret(f.str("client_secret")),
		AuthEndpoint:     f.str("auth_endpoint"),
		TokenEndpoint:    f.str("token_endpoint"),
		Scope:            f.str("scope"),
		ShellIntegration: f.boolean("shell_integration", true),
		// As a registration without "pkce": the default.
		PKCE: true,
		// The plugin cannot tell credentials a skill sent from those the
		// user typed into ovos-shell. Marking them the user's keeps them
		// when the skill registers again without any, which would drop the
		// token otherwise; a registration with credentials still wins.
		CredsFromUser: f.str("client_id") != "",
		Created:       now,
		Updated:       now,
	}
	if err := f.err(); err != nil {
		return nil, false, err
	}
	if err := checkEndpoint("auth_endpoint", app.AuthEndpoint); err != nil {
		return nil, false, err
	}
	if err := checkEndpoint("token_endpoint", app.TokenEndpoint); err != nil {
		return nil, false, err
	}
	return app, guessed, nil
}

// splitMungedID splits a munged id at its first "_" (then the next, until
// both halves are valid ids). ovos skill ids are "<repo>.<github user>",
// and GitHub user names have no "_", so the first is the likeliest.
func splitMungedID(id string) (skillID, appID string, guessed, ok bool) {
	if !oauth.ValidMungedID(id) {
		return "", "", false, false
	}
	guessed = strings.Count(id, "_") > 1
	for i := 0; i < len(id); i++ {
		if id[i] == '_' && oauth.ValidID(id[:i]) && oauth.ValidID(id[i+1:]) {
			return id[:i], id[i+1:], guessed, true
		}
	}
	return "", "", false, false
}

// checkEndpoint wants an absolute http or https URL, as a registration does.
func checkEndpoint(name, raw string) error {
	if raw == "" {
		return problems{{Reason: SkipMissing, Field: name}}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return problems{{Reason: SkipNotURL, Field: name}}
	}
	return nil
}

// parseToken reads one entry of the token file: the provider's token
// response, with the plugin's expires_at.
// maxLifetime bounds the expiry and lifetime an imported token may claim.
const maxLifetime = 365 * 24 * time.Hour

func parseToken(raw json.RawMessage, now time.Time) (*oauth.Token, error) {
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil || rec == nil {
		return nil, problems{{Reason: SkipNotObject}}
	}
	f := fields{rec: rec}
	tok := &oauth.Token{
		AccessToken:  oauth.Secret(f.str("access_token")),
		RefreshToken: oauth.Secret(f.str("refresh_token")),
		TokenType:    f.str("token_type"),
		Scope:        f.str("scope"),
	}
	expiresAt, hasExpiry := f.number("expires_at")
	expiresIn, hasLifetime := f.number("expires_in")
	if err := f.err(); err != nil {
		return nil, err
	}
	if tok.AccessToken == "" {
		return nil, problems{{Reason: SkipMissing, Field: "access_token"}}
	}
	// Anyone could have written these numbers: an expiry is believed up to
	// a year ahead and a lifetime up to a year, as the engine believes a
	// provider's, so that no time computed from them overflows.
	if hasExpiry && expiresAt > 0 {
		if latest := now.Add(maxLifetime); expiresAt >= float64(latest.Unix()) {
			tok.Expiry = latest
		} else {
			tok.Expiry = time.UnixMicro(int64(expiresAt * 1e6))
		}
	}
	expiresIn = min(expiresIn, maxLifetime.Seconds())
	// When the token was issued: its expiry less its lifetime where both are
	// known, else the import (never after the expiry). The engine refreshes
	// no earlier than half way between the two.
	switch {
	case tok.Expiry.IsZero():
		tok.Obtained = now
	case hasLifetime && expiresIn > 0:
		tok.Obtained = tok.Expiry.Add(-time.Duration(expiresIn * float64(time.Second)))
	case now.Before(tok.Expiry):
		tok.Obtained = now
	default:
		tok.Obtained = tok.Expiry
	}
	delete(rec, "access_token")
	delete(rec, "refresh_token")
	tok.Raw = rec
	return tok, nil
}

// fields reads typed values out of a decoded JSON object, remembering the
// first one of the wrong type. A null is an absent value, as Python's None.
type fields struct {
	rec map[string]any
	bad problems
}

func (f *fields) str(key string) string {
	switch v := f.rec[key].(type) {
	case nil:
		return ""
	case string:
		return v
	}
	f.wrong(key, SkipNotString)
	return ""
}

func (f *fields) boolean(key string, def bool) bool {
	switch v := f.rec[key].(type) {
	case nil:
		return def
	case bool:
		return v
	}
	f.wrong(key, SkipNotBool)
	return def
}

func (f *fields) number(key string) (float64, bool) {
	switch v := f.rec[key].(type) {
	case nil:
		return 0, false
	case float64:
		return v, true
	}
	f.wrong(key, SkipNotNumber)
	return 0, false
}

func (f *fields) wrong(key string, reason SkipReason) {
	p := Problem{Reason: reason, Field: key}
	if !slices.Contains(f.bad, p) {
		f.bad = append(f.bad, p)
	}
}

func (f *fields) err() error {
	if len(f.bad) == 0 {
		return nil
	}
	return f.bad
}
