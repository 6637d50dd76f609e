package oauth

import (
	"testing"
)

// FuzzParseRaw feeds token endpoint answers: whatever a provider sends, the
// parser returns a map and never panics, and expires_in is read only as a
// number or a numeric string.
func FuzzParseRaw(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","expires_in":3600,"refresh_token":"r"}`), "application/json")
	f.Add([]byte(`access_token=a&expires_in=3600&scope=x`), "application/x-www-form-urlencoded")
	f.Add([]byte(`{"expires_in":"3600"}`), "application/json; charset=utf-8")
	f.Add([]byte(`null`), "")
	f.Add([]byte(`[1,2]`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		raw := parseRaw(body, contentType)
		if raw == nil {
			t.Fatal("parseRaw returned nil")
		}
		if n, ok := expiresIn(raw); ok {
			switch raw["expires_in"].(type) {
			case float64, string:
			default:
				t.Fatalf("expires_in %d read from a %T", n, raw["expires_in"])
			}
		}
	})
}

// FuzzValidID: an id that passes never holds a path separator, a dot-dot
// segment start, or anything outside the allowed set.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"skill-demo.test", "../x", "a/b", ".hidden", "ok_id", "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidID(s) {
			return
		}
		if len(s) == 0 || len(s) > MaxIDLen || s[0] == '.' {
			t.Fatalf("ValidID(%q) = true", s)
		}
		for _, c := range []byte(s) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("ValidID(%q) = true with %q", s, c)
			}
		}
	})
}
