package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestRevokeOutcomes: Revoke says whether the provider revoked the token
// and whether it was forgotten here, and why the provider was not told.
func TestRevokeOutcomes(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	tests := []struct {
		name       string
		revocation string // the app's revocation endpoint; "-" for the working one
		login      bool
		want       oauth.Revocation
		reason     string // in Reason
		code       string // the error's
	}{
		{"told", "-", true, oauth.Revocation{Revoked: true, Forgotten: true}, "", ""},
		{"no revocation endpoint", "", true, oauth.Revocation{Forgotten: true}, "forgotten here only", ""},
		{"provider down", down.URL, true, oauth.Revocation{Forgotten: true}, "", oauth.CodeProviderUnavailable},
		{"no token", "-", false, oauth.Revocation{}, "no token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			endpoint := tt.revocation
			if endpoint == "-" {
				endpoint = newRevocationEndpoint(t).URL
			}
			f.register(t, "app", func(r *oauth.Registration) { r.RevocationEndpoint = endpoint })
			if tt.login {
				_, q := f.start(t, "app")
				if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := f.e.Revoke(context.Background(), "skill.test", "app")
			if got.Revoked != tt.want.Revoked || got.Forgotten != tt.want.Forgotten || oauth.ErrorCode(err) != tt.code && !(err == nil && tt.code == "") {
				t.Errorf("Revoke() = %+v, %v; want %+v with error %q", got, err, tt.want, tt.code)
			}
			if (tt.reason == "") != (got.Reason == "") || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Revoke() reason = %q, want one with %q", got.Reason, tt.reason)
			}
			if _, err := f.db.Token("skill.test_app"); !oauth.IsNotFound(err) {
				t.Errorf("the token is still stored: %v", err)
			}
		})
	}
}
