package api_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// TestStatusLoginExpiresAt: oauth.status gives each app's login_expires_at,
// Unix seconds, and null where no end is known.
func TestStatusLoginExpiresAt(t *testing.T) {
	db := storetest.Open(t)
	logger := slog.New(slog.DiscardHandler)
	out := newOutbox()
	e := oauth.NewEngine(db, api.NewPublisher(out, logger), "http://192.0.2.1:36536", logger)
	svc := api.New(e, out, qr.NewDir(t.TempDir()), "192.0.2.1", 36536, logger)
	run(t, svc)
	for _, appID := range []string{"spotify", "other"} {
		svc.Dispatch(request("oauth.register", map[string]any{"skill_id": "s", "app_id": appID, "client_id": "c",
			"auth_endpoint": "https://accounts.spotify.com/authorize", "token_endpoint": map[string]string{
				"spotify": "https://accounts.spotify.com/api/token", "other": "https://p.example/t"}[appID]}))
	}
	out.wait(t, 2)
	login := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{"s_spotify", "s_other"} {
		if err := db.PutToken(id, &oauth.Token{AccessToken: "AT", RefreshToken: "RT", Obtained: login, LoginAt: login, Expiry: login.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	svc.Dispatch(request("oauth.status", map[string]any{"skill_id": "s"}))
	apps, _ := dataOf(t, out.wait(t, 3)[2])["apps"].([]any)
	got := map[string]any{}
	for _, a := range apps {
		a := a.(map[string]any)
		v, ok := a["login_expires_at"]
		if !ok {
			t.Errorf("%v: no login_expires_at", a["app_id"])
		}
		got[a["app_id"].(string)] = v
	}
	if want := float64(time.Date(2027, 5, 28, 12, 0, 0, 0, time.UTC).Unix()); got["spotify"] != want {
		t.Errorf("login_expires_at of the Spotify app = %v, want %v", got["spotify"], want)
	}
	if got["other"] != nil {
		t.Errorf("login_expires_at of an app whose login has no known end = %v, want null", got["other"])
	}
}
