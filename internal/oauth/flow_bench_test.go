package oauth_test

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkStartFlow measures opening a pending login: state, PKCE
// verifier and challenge, the authorization URL, and storing the flow in a
// real bbolt file (an fsync, which dominates on a disk). lan and relay
// differ only in the URL (relay's state carries the callback).
func BenchmarkStartFlow(b *testing.B) {
	for _, mode := range []string{oauth.LoginLAN, oauth.LoginRelay} {
		b.Run(mode, func(b *testing.B) {
			db := storetest.Open(b)
			e := oauth.NewEngine(db, nil, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
			e.RelayURL = "https://relay.example/ovos/"
			ctx := context.Background()
			if _, err := e.Register(ctx, oauth.Registration{
				SkillID: "skill.test", AppID: "app", ClientID: "cid",
				AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: "https://provider.example/token",
				Scope: "read write", PKCE: true, Login: mode,
				AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
			}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var f *oauth.Flow
			for b.Loop() {
				var err error
				if f, _, err = e.StartFlow(ctx, "skill.test", "app"); err != nil {
					b.Fatal(err)
				}
			}
			u, err := url.Parse(f.AuthURL)
			if err != nil || u.Query().Get("code_challenge") == "" {
				b.Fatalf("AuthURL %q has no code_challenge (%v)", f.AuthURL, err)
			}
		})
	}
}
