package api_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestPublisher: each event goes out on the sender the Publisher was made
// with, typed by app, a token's expires_in counted on the Publisher's
// clock and without the refresh token.
func TestPublisher(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	out := newOutbox()
	p := api.NewPublisher(out, slog.New(slog.DiscardHandler))
	p.Now = func() time.Time { return now }
	app := &oauth.App{SkillID: "s", AppID: "a"}
	tok := &oauth.Token{AccessToken: "AT", RefreshToken: "RT", Expiry: now.Add(time.Hour), Obtained: now.Add(-time.Minute)}

	p.Ping()
	p.TokenIssued(app, tok)
	p.TokenRefreshed(app, tok)
	p.LoginFailed(app, &oauth.Error{Code: oauth.CodeAccessDenied, Description: "refused"})
	p.ReauthRequired(app, "the refresh token was refused")
	p.ReauthUpcoming(app, now.Add(48*time.Hour), "the provider ends logins after 6 months")

	token := map[string]any{"access_token": "AT", "expires_in": 3600.0, "expires_at": float64(now.Add(time.Hour).Unix())}
	want := []struct {
		typ  string
		data map[string]any
	}{
		{"oauth.ping", map[string]any{}},
		{"oauth.token.response.s_a", token},
		{"oauth.token.refreshed.s_a", token},
		{"oauth.token.error.s_a", map[string]any{"skill_id": "s", "app_id": "a", "error": "access_denied", "error_description": "refused"}},
		{"oauth.reauth.required.s_a", map[string]any{"skill_id": "s", "app_id": "a", "reason": "the refresh token was refused"}},
		{"oauth.reauth.upcoming.s_a", map[string]any{"skill_id": "s", "app_id": "a", "munged_id": "s_a",
			"login_expires_at": float64(now.Add(48 * time.Hour).Unix()), "reason": "the provider ends logins after 6 months"}},
	}
	got := out.wait(t, len(want))
	for i, w := range want {
		if got[i].Type != w.typ {
			t.Errorf("event %d = %s, want %s", i, got[i].Type, w.typ)
			continue
		}
		if diff := cmp.Diff(dataOf(t, got[i]), w.data); diff != "" {
			t.Errorf("%s data (-got +want):\n%s", w.typ, diff)
		}
	}
}
