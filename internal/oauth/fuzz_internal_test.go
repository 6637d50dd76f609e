package oauth

import (
	"log/slog"
	"strings"
	"testing"
	"time"
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

// FuzzDeviceFlow feeds device authorization answers: whatever a provider
// sends, a login is opened only with a device code, a printable user code
// and http(s) verification URIs (they go into QR codes and a browser), and
// with a positive, bounded interval and lifetime.
func FuzzDeviceFlow(f *testing.F) {
	f.Add([]byte(`{"device_code":"D","user_code":"WDJB-MJHT","verification_uri":"https://p.test/device","verification_uri_complete":"https://p.test/device?c=1","expires_in":900,"interval":5}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_url":"https://www.google.com/device","expires_in":"1800","interval":"5"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U","verification_uri":"javascript:alert(1)"}`))
	f.Add([]byte(`{"device_code":"D","user_code":"U\n","verification_uri":"https://p.test/d","interval":-1,"expires_in":1e300}`))
	f.Add([]byte(`[]`))
	e := NewEngine(nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	app := &App{SkillID: "s", AppID: "a", ClientID: "c", TokenEndpoint: "https://p.test/token"}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		fl, err := e.deviceFlow(app, body, now)
		if err != nil {
			if ErrorCode(err) != CodeProviderUnavailable {
				t.Fatalf("deviceFlow error code %q, want provider_unavailable", ErrorCode(err))
			}
			return
		}
		if fl.DeviceCode == "" || fl.UserCode == "" || fl.Kind != FlowDevice {
			t.Fatalf("flow %+v without a device or user code", fl)
		}
		if checkText("user_code", fl.UserCode) != nil {
			t.Fatalf("user code %q is not printable", fl.UserCode)
		}
		for _, u := range []string{fl.VerificationURI, fl.VerificationURIComplete, fl.UserURL()} {
			if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				t.Fatalf("verification URI %q is not http(s)", u)
			}
		}
		if fl.Interval <= 0 || fl.Interval > time.Hour || !fl.Expires.After(now) || fl.Expires.After(now.Add(25*time.Hour)) {
			t.Fatalf("interval %v, expires %v", fl.Interval, fl.Expires)
		}
	})
}
