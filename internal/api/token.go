package api

import (
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// wireToken is tok as skills get it on the bus at now: the provider's
// whole response but the refresh token (every bus client sees every
// frame), the expiry as Unix seconds, and in expires_in the whole seconds
// left at now (none once expired), not the lifetime the provider gave when
// it issued the token: a skill that adds expires_in to its own clock must
// not take a token for fresh long after.
func wireToken(tok *oauth.Token, now time.Time) wire.Token {
	t := wire.Token{AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType, Scope: tok.Scope}
	for k, v := range tok.Raw {
		switch k {
		case "refresh_token", "access_token", "expires_in":
			// A secret that stays here, the token's own access token, and
			// the lifetime at issue, which the time left replaces.
		case "token_type":
			if t.TokenType == "" {
				t.TokenType, _ = v.(string)
			}
		case "scope":
			if t.Scope == "" {
				t.Scope, _ = v.(string)
			}
		case "expires_at":
			if tok.Expiry.IsZero() {
				t.ExpiresAt, _ = v.(float64)
			}
		default:
			if t.Extra == nil {
				t.Extra = make(map[string]any, len(tok.Raw))
			}
			t.Extra[k] = v
		}
	}
	if !tok.Expiry.IsZero() {
		t.ExpiresAt = float64(tok.Expiry.UnixMicro()) / 1e6
		// Whole seconds, rounded down: never more time than the token has.
		t.ExpiresIn = int64(max(tok.Expiry.Sub(now), 0) / time.Second)
	}
	return t
}
