package mirror

import (
	"encoding/json"
	"sync"
)

// Apps returns the entries of the apps file, ovos_oauth_apps.json in Dir,
// keyed by munged id, each value as its raw JSON text. Tokens does the same
// for the token file, ovos_oauth.json. A missing or empty file has no
// entries; a file that is not a JSON object is an error. Both read under
// json_database's lock, as a write does, so they never see a file another
// process is halfway through writing, and neither writes anything. They are
// safe for concurrent use.
func (f *Files) Apps() (map[string]json.RawMessage, error) {
	return f.entries(appsName, &f.appsMu)
}

// Tokens is Apps for the token file.
func (f *Files) Tokens() (map[string]json.RawMessage, error) {
	return f.entries(tokensName, &f.tokensMu)
}

func (f *Files) entries(name string, mu *sync.Mutex) (map[string]json.RawMessage, error) {
	var got map[string]json.RawMessage
	err := f.update(name, mu, func(entries map[string]json.RawMessage) bool {
		got = entries
		return false
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// ErrNotObject is the error, wrapped, of Apps and Tokens for a file that is
// not a JSON object: another program's data or a torn write, which they
// leave as it is.
var ErrNotObject = errNotObject
