package oauth

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParseRaw feeds token endpoint answers: whatever a provider sends, the
// parser returns a map and never panics.
func FuzzParseRaw(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","expires_in":3600,"refresh_token":"r"}`), "application/json")
	f.Add([]byte(`access_token=a&expires_in=3600&scope=x`), "application/x-www-form-urlencoded")
	f.Add([]byte(`{"expires_in":"3600"}`), "application/json; charset=utf-8")
	f.Add([]byte(`null`), "")
	f.Add([]byte(`[1,2]`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if parseRaw(body, contentType) == nil {
			t.Fatal("parseRaw returned nil")
		}
	})
}

// FuzzLifetimes feeds token endpoint answers through every lifetime the
// engine reads from them: whatever a provider sends, newToken never panics,
// the expiry and the refresh token's expiry are absent or after the moment
// the token was obtained and within their bounds (no overflow to the past),
// the lifetimes left in the response for skills agree with them, and
// x/oauth2 is never handed an expires_in it fails the answer on.
func FuzzLifetimes(f *testing.F) {
	for _, body := range []string{
		`{"access_token":"a","expires_in":3600,"refresh_token":"r","refresh_token_expires_in":15811200}`,
		`{"expires_in":9223372037,"refresh_token_expires_in":"9223372037"}`,
		`{"expires_in":"1e300","refresh_token_expires_in":-1e300}`,
		`{"expires_in":1e400}`,
		`{"expires_in":0.001,"refresh_token_expires_in":"0"}`,
		`{"expires_in":"soon","refresh_token_expires_in":{"a":1}}`,
		`{"expires_in":"NaN","refresh_token_expires_in":"Inf"}`,
		`{"expires_in":"0x10","refresh_token_expires_in":"1_000"}`,
		`{"expires_in":92233720368547758070}`,
		`{"expires_in":null}`,
		`expires_in=9223372037&refresh_token_expires_in=-1`,
	} {
		f.Add([]byte(body), "application/json")
		f.Add([]byte(body), "application/x-www-form-urlencoded")
	}
	e := NewEngine(nil, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	obtained := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		tok := e.newToken("a", "Bearer", "r", parseRaw(body, contentType), obtained)
		for _, c := range []struct {
			key    string
			at     time.Time
			lo, hi time.Duration
		}{
			{"expires_in", tok.Expiry, minTokenLifetime, maxTokenLifetime},
			{"refresh_token_expires_in", tok.RefreshExpiry, minRefreshLifetime, maxRefreshLifetime},
		} {
			v, has := tok.Raw[c.key]
			if c.at.IsZero() {
				if has {
					t.Fatalf("%s %v kept without an expiry", c.key, v)
				}
				continue
			}
			if d := c.at.Sub(obtained); d < c.lo || d > c.hi {
				t.Fatalf("%s read as %v, want within [%v, %v]", c.key, d, c.lo, c.hi)
			}
			if n, ok := v.(int64); !ok || n != int64(c.at.Sub(obtained)/time.Second) {
				t.Fatalf("%s left as %#v, want the %v the engine uses", c.key, v, c.at.Sub(obtained))
			}
		}
		// x/oauth2 reads a form (and text/plain) itself, ignoring what it
		// cannot parse; anything else as JSON, failing on an odd expires_in.
		if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
			return
		}
		var tj struct {
			ExpiresIn json.RawMessage `json:"expires_in"`
		}
		if json.Unmarshal(withoutOddExpiresIn(body, contentType), &tj) == nil && len(tj.ExpiresIn) > 0 && string(tj.ExpiresIn) != "null" {
			var n json.Number
			if err := json.Unmarshal(tj.ExpiresIn, &n); err != nil {
				t.Fatalf("x/oauth2 gets expires_in %s: %v", tj.ExpiresIn, err)
			}
			if _, err := n.Int64(); err != nil {
				t.Fatalf("x/oauth2 gets expires_in %s: %v", tj.ExpiresIn, err)
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

// FuzzDeviceFlow feeds device authorization answers: whatever a provider
// sends, a login is opened only with a device code, a short user code
// without markup, control or formatting characters, and verification URIs
// that are https (http only on loopback) without markup; they go into QR
// codes, ovos-shell and the bus. Its interval and lifetime are within
// their bounds.
func FuzzDeviceFlow(f *testing.F) {
	f.Add([]byte(`{"device_code":"D","user_code":"WDJB-MJHT","verification_uri":"https://p.test/device","verification_uri_complete":"https://p.test/device?c=1","expires_in":900,"interval":5}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_url":"https://www.google.com/device","expires_in":"1800","interval":"5"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_uri":"javascript:alert(1)"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U\n","verification_uri":"https://p.test/d","interval":-1,"expires_in":1e300}`))
	f.Add([]byte(`{"device_code":"D","user_code":"<img src=x onerror=alert(1)>","verification_uri":"https://p.test/d"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"ÄÖ-Ü\u202e","verification_uri":"http://127.0.0.1:9/d","interval":"soon","expires_in":9223372037}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_uri":"http://p.test/d","verification_uri_complete":"https://p.test/d?c=<b>"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_uri":"https://[::1]/d","interval":0.5,"expires_in":"0.5"}`))
	f.Add([]byte(`[]`))
	e := NewEngine(nil, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	app := &App{SkillID: "s", AppID: "a", ClientID: "c", TokenEndpoint: "https://p.test/token"}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		fl, err := e.deviceFlow(app, body, now)
		if err != nil {
			if ErrorCode(err) != CodeProviderUnavailable || badField(err) == "" {
				t.Fatalf("deviceFlow error %v, want provider_unavailable naming a field", err)
			}
			return
		}
		if fl.DeviceCode == "" || fl.Kind != FlowDevice {
			t.Fatalf("flow %+v without a device code", fl)
		}
		if n := utf8.RuneCountInString(fl.UserCode); n == 0 || n > 32 || !utf8.ValidString(fl.UserCode) {
			t.Fatalf("user code %q: %d characters", fl.UserCode, n)
		}
		for _, r := range fl.UserCode {
			if strings.ContainsRune("<>&\"'`", r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("user code %q has %q", fl.UserCode, r)
			}
		}
		for _, raw := range []string{fl.VerificationURI, fl.VerificationURIComplete, fl.UserURL()} {
			if raw == "" {
				continue
			}
			if strings.ContainsAny(raw, "<>\"` \t\r\n") {
				t.Fatalf("verification URI %q could carry markup", raw)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("verification URI %q: %v", raw, err)
			}
			host := u.Hostname()
			ip, ipErr := netip.ParseAddr(host)
			loopback := strings.EqualFold(host, "localhost") || ipErr == nil && ip.Unmap().IsLoopback()
			if u.Scheme != "https" && (u.Scheme != "http" || !loopback) {
				t.Fatalf("verification URI %q is neither https nor http on loopback", raw)
			}
		}
		if fl.Interval < time.Second || fl.Interval > time.Minute {
			t.Fatalf("interval %v, want 1 s to 1 min", fl.Interval)
		}
		if ttl := fl.Expires.Sub(now); ttl < time.Minute || ttl > time.Hour {
			t.Fatalf("device code lives %v, want 1 min to 1 h", ttl)
		}
	})
}
