package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestDeviceAnswerChecked: a device authorization answer reaches a QR code,
// ovos-shell and the bus only if its verification URIs are https (http
// only on the device itself) and its user code is short, printable text
// without markup. Anything else ends the login with provider_unavailable
// and a warning in the log, and nothing is stored.
func TestDeviceAnswerChecked(t *testing.T) {
	t.Parallel()
	const goodURI = "https://provider.example/device"
	tests := []struct {
		name     string
		field    string // the field the log names, "" for an answer that is accepted
		userCode string
		uri      string
		complete string
		url      string // Google's name for verification_uri
	}{
		{name: "a usual answer", userCode: "WDJB-MJHT", uri: goodURI, complete: goodURI + "?user_code=WDJB-MJHT"},
		{name: "Google's verification_url", userCode: "ABCD-EFGH", url: "https://www.google.com/device"},
		{name: "digits and a space", userCode: "123 456", uri: goodURI},
		{name: "letters beyond ASCII", userCode: "ÄÖÜ-ẞÉ-ŁĄ", uri: goodURI},
		{name: "32 characters", userCode: strings.Repeat("Ж", 32), uri: goodURI},
		{name: "dots and underscores", userCode: "BCDF.GHJK_LM", uri: goodURI},
		{name: "http on 127.0.0.1", userCode: "U", uri: "http://127.0.0.1:8080/device"},
		{name: "http on 127.0.0.0/8", userCode: "U", uri: "http://127.5.6.7/device", complete: "http://127.5.6.7/device?c=U"},
		{name: "http on ::1", userCode: "U", uri: "http://[::1]:9/device"},
		{name: "http on localhost", userCode: "U", uri: "http://localhost:9/device"},

		{name: "http on a public host", field: "verification_uri", userCode: "U", uri: "http://provider.example/device"},
		{name: "http verification_uri_complete", field: "verification_uri_complete", userCode: "U", uri: goodURI, complete: "http://provider.example/device?c=U"},
		{name: "http verification_url", field: "verification_uri", userCode: "U", url: "http://www.google.com/device"},
		{name: "a loopback look-alike", field: "verification_uri", userCode: "U", uri: "http://127.0.0.1.evil.example/device"},
		{name: "localhost look-alike", field: "verification_uri", userCode: "U", uri: "http://localhost.evil.example/device"},
		{name: "javascript", field: "verification_uri", userCode: "U", uri: "javascript:alert(1)"},
		{name: "user info", field: "verification_uri", userCode: "U", uri: "https://provider.example@evil.example/device"},
		{name: "markup in the URI", field: "verification_uri_complete", userCode: "U", uri: goodURI, complete: goodURI + "?c=<img src=x onerror=alert(1)>"},
		{name: "quote in the URI", field: "verification_uri", userCode: "U", uri: goodURI + `?c="x"`},
		{name: "space in the URI", field: "verification_uri", userCode: "U", uri: goodURI + "/a b"},
		{name: "relative URI", field: "verification_uri", userCode: "U", uri: "/device"},
		{name: "markup user code", field: "user_code", userCode: "<img src=x onerror=alert(1)>", uri: goodURI},
		{name: "bold user code", field: "user_code", userCode: "<b>WDJB</b>", uri: goodURI},
		{name: "quote", field: "user_code", userCode: `WD"JB`, uri: goodURI},
		{name: "apostrophe", field: "user_code", userCode: "WD'JB", uri: goodURI},
		{name: "ampersand", field: "user_code", userCode: "WD&amp;JB", uri: goodURI},
		{name: "33 characters", field: "user_code", userCode: strings.Repeat("A", 33), uri: goodURI},
		{name: "a control character", field: "user_code", userCode: "WDJB\u0007MJHT", uri: goodURI},
		{name: "a newline", field: "user_code", userCode: "WDJB\nMJHT", uri: goodURI},
		{name: "a bidi override", field: "user_code", userCode: "WDJB\u202eTHJM", uri: goodURI},
		{name: "a zero-width space", field: "user_code", userCode: "WDJB\u200bMJHT", uri: goodURI},
		{name: "nothing to type", field: "user_code", userCode: "- -", uri: goodURI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			var logs bytes.Buffer
			e := oauth.NewEngine(f.db, nil, "http://192.0.2.10:36536", slog.New(slog.NewTextHandler(&logs, nil)))
			e.Now = f.clk.Now
			f.e = e
			answer := map[string]any{"device_code": "DC", "user_code": tt.userCode, "expires_in": 600, "interval": 5}
			for k, v := range map[string]string{"verification_uri": tt.uri, "verification_uri_complete": tt.complete, "verification_url": tt.url} {
				if v != "" {
					answer[k] = v
				}
			}
			body, err := json.Marshal(answer)
			if err != nil {
				t.Fatal(err)
			}
			f.te.set(jsonAnswer(200, string(body)))
			f.register(t, "tv", func(r *oauth.Registration) { r.DeviceEndpoint = f.te.URL + "/device" })
			fl, _, err := e.StartFlow(context.Background(), "skill.test", "tv")
			if tt.field == "" {
				if err != nil {
					t.Fatalf("StartFlow() = %v, want the login started", err)
				}
				if fl.UserCode != tt.userCode || fl.UserURL() == "" {
					t.Errorf("flow user code %q, address %q", fl.UserCode, fl.UserURL())
				}
				return
			}
			if oauth.ErrorCode(err) != oauth.CodeProviderUnavailable {
				t.Fatalf("StartFlow() = %v, %v; want provider_unavailable", fl, err)
			}
			if desc := err.(*oauth.Error).Description; strings.ContainsAny(desc, "<>\"") || !strings.Contains(desc, "provider") {
				t.Errorf("error description %q, want plain words about the provider", desc)
			}
			if flows, _ := f.db.Flows(); len(flows) != 0 {
				t.Errorf("%d logins stored from a refused answer", len(flows))
			}
			log := logs.String()
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "field="+tt.field) {
				t.Errorf("log does not warn about %s:\n%s", tt.field, log)
			}
			if strings.Contains(log, "onerror") {
				t.Errorf("the provider's markup reached the log:\n%s", log)
			}
		})
	}
}
