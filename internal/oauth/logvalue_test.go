package oauth_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestLogValuesRedacted: apps, tokens and flows logged whole, by value or
// pointer, in the text and JSON handlers, never show a secret, nor the
// flow's id, which opens it.
func TestLogValuesRedacted(t *testing.T) {
	t.Parallel()
	app := &oauth.App{SkillID: "s", AppID: "a", ClientID: "cid", ClientSecret: "SECRET-client"}
	tok := &oauth.Token{AccessToken: "SECRET-access", RefreshToken: "SECRET-refresh", TokenType: "Bearer", Expiry: time.Now()}
	fl := &oauth.Flow{ID: "SECRETFLOWIDSECRETFLOWIDSE", Kind: oauth.FlowDevice, State: "SECRET-state", Verifier: "SECRET-verifier", DeviceCode: "SECRET-device"}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		l := slog.New(h(&buf))
		l.Info("x", "app", app, "token", tok, "flow", fl, "appv", *app, "tokv", *tok, "flowv", *fl)
		if strings.Contains(buf.String(), "SECRET") {
			t.Errorf("%s handler logged a secret:\n%s", name, buf.String())
		}
		for _, want := range []string{"cid", "Bearer", "device", oauth.FlowTag(fl.ID)} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s handler: %q missing from %s", name, want, buf.String())
			}
		}
	}
}
