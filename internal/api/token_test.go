package api_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// TestWireTokenExpiresInIsTimeLeft: a token on the bus says in expires_in
// how long it has left, never less than 0, whatever lifetime the provider
// gave it; without an expiry it has none.
func TestWireTokenExpiresInIsTimeLeft(t *testing.T) {
	t.Parallel()
	obtained := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tok := &oauth.Token{AccessToken: "AT", TokenType: "Bearer", Obtained: obtained, Expiry: obtained.Add(time.Hour),
		Raw: map[string]any{"expires_in": 3600.0, "token_type": "Bearer"}}
	tests := []struct {
		name string
		now  time.Time
		want int64
	}{
		{"just issued", obtained, 3600},
		{"20 minutes on", obtained.Add(20 * time.Minute), 2400},
		{"rounded down to the second", obtained.Add(20*time.Minute + 400*time.Millisecond), 2399},
		{"at expiry", obtained.Add(time.Hour), 0},
		{"expired", obtained.Add(2 * time.Hour), 0},
	}
	for _, tt := range tests {
		if got := api.WireToken(tok, tt.now).ExpiresIn; got != tt.want {
			t.Errorf("%s: WireToken().ExpiresIn = %d, want %d", tt.name, got, tt.want)
		}
	}
	noExpiry := &oauth.Token{AccessToken: "AT", Obtained: obtained, Raw: map[string]any{"expires_in": "soon"}}
	if got := api.WireToken(noExpiry, obtained); got.ExpiresIn != 0 || got.Extra["expires_in"] != nil {
		t.Errorf("a token without an expiry: WireToken() = %+v, want no expires_in", got)
	}
}

// TestWireToken: a token as skills get it carries the provider's other
// fields, the expiry as Unix seconds, and never the refresh token, not even
// one a token stored by an older version kept among its raw fields.
func TestWireToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tok  oauth.Token
		want wire.Token
	}{
		{"whole response", oauth.Token{AccessToken: "AT-1", TokenType: "Bearer", RefreshToken: "RT-1", Scope: "read", Expiry: now.Add(time.Hour), Obtained: now,
			Raw: map[string]any{"x_extra": "kept", "expires_in": 3600.0, "scope": "read", "token_type": "Bearer", "refresh_token": "RT-old"}},
			wire.Token{AccessToken: "AT-1", TokenType: "Bearer", Scope: "read", ExpiresIn: 3600, ExpiresAt: float64(now.Add(time.Hour).Unix()), Extra: map[string]any{"x_extra": "kept"}}},
		{"type and scope from the response", oauth.Token{AccessToken: "AT", Obtained: now, Raw: map[string]any{"token_type": "bearer", "scope": "a b", "expires_at": 1.5e9}},
			wire.Token{AccessToken: "AT", TokenType: "bearer", Scope: "a b", ExpiresAt: 1.5e9}},
		{"fields of the wrong type", oauth.Token{AccessToken: "AT", Obtained: now, Raw: map[string]any{"token_type": 1.0, "scope": []any{"a"}, "expires_at": "later"}},
			wire.Token{AccessToken: "AT"}},
		{"an expiry of its own", oauth.Token{AccessToken: "AT", TokenType: "Bearer", Expiry: now.Add(90 * time.Second), Obtained: now,
			Raw: map[string]any{"token_type": "mac", "expires_at": 1.0, "access_token": "old"}},
			wire.Token{AccessToken: "AT", TokenType: "Bearer", ExpiresIn: 90, ExpiresAt: float64(now.Add(90 * time.Second).Unix())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(api.WireToken(&tt.tok, now), tt.want); diff != "" {
				t.Errorf("WireToken() (-got +want):\n%s", diff)
			}
		})
	}
}
