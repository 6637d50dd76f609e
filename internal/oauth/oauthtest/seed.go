package oauthtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Seed stores n registered apps, each with a refreshable token whose expiry
// is staggered between an hour and 30 days after now, as a device with many
// skills would have. It returns the munged ids.
func Seed(tb testing.TB, st oauth.Store, n int, now time.Time) []string {
	tb.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		app := &oauth.App{
			SkillID: fmt.Sprintf("skill-%05d.bench", i), AppID: "app",
			ClientID: "client", ClientSecret: "secret",
			AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: "https://provider.example/token",
			Scope: "read write", PKCE: true, Created: now, Updated: now,
		}
		if err := st.PutApp(app, false); err != nil {
			tb.Fatal(err)
		}
		lifetime := time.Hour + time.Duration(i)*((30*24*time.Hour-time.Hour)/time.Duration(n))
		tok := &oauth.Token{
			AccessToken: oauth.Secret(fmt.Sprintf("access-%d", i)), TokenType: "Bearer",
			RefreshToken: oauth.Secret(fmt.Sprintf("refresh-%d", i)),
			Expiry:       now.Add(lifetime), Obtained: now, Scope: "read write",
			Raw: map[string]any{"token_type": "Bearer", "expires_in": lifetime.Seconds()},
		}
		if err := st.PutToken(app.MungedID(), tok); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, app.MungedID())
	}
	return ids
}
