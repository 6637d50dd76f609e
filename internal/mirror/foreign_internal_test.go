package mirror

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzTokenOf checks that whatever another program wrote as a token entry
// is read as no token or as a sane one, never with a panic or a time that
// overflowed.
func FuzzTokenOf(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"access_token": 1}`, `{"access_token": ""}`,
		`{"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 3600, "expires_at": 1795874400.5, "scope": "s"}`,
		`{"access_token": "a", "expires_at": 1e300, "expires_in": -5}`,
		`{"access_token": "a", "expires_at": 1795874400, "expires_in": 1e300}`,
		`{"access_token": "a", "expires_at": 1795874400, "expires_in": 1e-12}`,
		`{"access_token": "a", "expires_at": "soon", "_ovos_oauth": "db-1"}`,
	} {
		f.Add([]byte(seed), []byte(`{"access_token": "b", "expires_at": 1795874400.25}`))
	}
	limit := time.Unix(maxUnixSeconds, 0)
	f.Fuzz(func(t *testing.T, entry, other []byte) {
		tok := tokenOf(json.RawMessage(entry))
		newerToken(json.RawMessage(entry), json.RawMessage(other))
		if tok == nil {
			return
		}
		if tok.AccessToken == "" {
			t.Fatalf("tokenOf(%q) has no access token", entry)
		}
		if !tok.Expiry.IsZero() && (!tok.Expiry.After(time.Unix(0, 0)) || tok.Expiry.After(limit)) {
			t.Fatalf("tokenOf(%q).Expiry = %v, out of bounds", entry, tok.Expiry)
		}
		if !tok.Obtained.IsZero() && (tok.Expiry.IsZero() || !tok.Obtained.Before(tok.Expiry)) {
			t.Fatalf("tokenOf(%q).Obtained = %v, not before its expiry %v", entry, tok.Obtained, tok.Expiry)
		}
		for _, k := range []string{"access_token", "refresh_token", "expires_at", MarkKey} {
			if _, ok := tok.Raw[k]; ok {
				t.Fatalf("tokenOf(%q).Raw holds %s", entry, k)
			}
		}
	})
}
