package oauth

import (
	"errors"
	"maps"
	"time"

	"golang.org/x/oauth2"
)

// Python programs may refresh a token themselves with the refresh token
// in the Mirror and write the answer back: ovos_utils' refresh helper, a
// Spotify plugin with spotipy. Where the provider rotates refresh tokens,
// the one the daemon holds is then dead, and so may be the access token it
// hands out. The daemon takes their newer token: when the Mirror tells it
// of the change (MirrorChanged), before each refresh of its own, and when
// the provider refuses the refresh token it presented because another
// program presented it first.

// MirrorChanged tells the engine that another program wrote tok as the
// app's token into the Mirror. A token newer than the one stored (another
// access token, expiring later) is adopted: stored, its refresh planned
// from its expiry, mirrored and announced as a refresh, so that skills get
// the live token and the daemon does not refresh it again before it is due.
// An older one is left alone. It takes the app's lock, so it may wait for
// a refresh in flight, and must not be called with the Mirror's own locks
// held. It does nothing once Run has returned.
func (e *Engine) MirrorChanged(mungedID string, tok *Token) {
	if tok == nil || !e.flights.begin() {
		return
	}
	defer e.flights.end()
	unlock := e.locks.Lock(mungedID)
	defer unlock()
	app, err := e.app(mungedID)
	if err != nil || app.NeedsReauth || e.unsaved.get(mungedID) != nil {
		// Unknown here, waiting for a new login, or holding a refreshed
		// token of its own that is still to be saved.
		return
	}
	old, err := e.storedToken(mungedID)
	if err != nil || !e.mirrorNewer(tok, old) {
		return
	}
	e.logger.Info("taking the token another program refreshed into the ovos_utils mirror", "app", mungedID)
	if _, err := e.kept(app, e.adopt(tok, old)); err != nil {
		e.logger.Warn("token from the ovos_utils mirror not saved", "app", mungedID, "err", err)
	}
}

// kept stores and announces tok, another program's token from the Mirror,
// as the answer of a refresh.
func (e *Engine) kept(app *App, tok *Token) (*Token, error) {
	if err := e.keep(app, tok, "refresh", "", "from_mirror", true); err != nil {
		return nil, err
	}
	return tok, nil
}

// mirroredToken reads the app's token in the Mirror; nil without one.
func (e *Engine) mirroredToken(id string) *Token {
	if e.Mirror == nil {
		return nil
	}
	tok, err := e.Mirror.Token(id)
	if err != nil {
		e.logger.Warn("ovos_utils mirror not read", "app", id, "err", err)
		return nil
	}
	return tok
}

// mirrorNewer reports whether m, the app's token in the Mirror, is newer
// than old, the stored one: another access token, expiring later (within
// the lifetimes believed). A refresher gets its token after it read the one
// it refreshed, so with the provider's usual lifetime the newer token
// expires later; a token written back by a program that read the file
// before (json_database rewrites the whole file) expires sooner.
func (e *Engine) mirrorNewer(m, old *Token) bool {
	return m != nil && m.AccessToken != "" && m.AccessToken != old.AccessToken &&
		m.Expiry.After(old.Expiry) && m.Expiry.Before(e.Now().Add(maxTokenLifetime))
}

// adopt returns old with the tokens of m, read from the Mirror, in its
// place: what the provider gave the other program, and what only the
// daemon knows (the login it belongs to) as it was.
func (e *Engine) adopt(m, old *Token) *Token {
	t := *old
	t.LoginAt = loginAt(old) // before Obtained, its fallback, moves
	t.AccessToken, t.Expiry, t.Raw = m.AccessToken, m.Expiry, maps.Clone(m.Raw)
	if m.RefreshToken != "" {
		t.RefreshToken = m.RefreshToken
	}
	if m.TokenType != "" {
		t.TokenType = m.TokenType
	}
	if m.Scope != "" {
		t.Scope = m.Scope
	}
	t.Obtained = m.Obtained
	if now := e.Now(); t.Obtained.IsZero() || t.Obtained.After(now) || !t.Obtained.Before(t.Expiry) {
		t.Obtained = now
	}
	return &t
}

// fresh reports whether tok is not due for a refresh (see refreshDue).
func (e *Engine) fresh(tok *Token) bool {
	due, ok := e.refreshDue(tok)
	return !ok || e.Now().Before(due)
}

// rotatedInMirror waits up to MirrorWait for the Mirror to hold another
// refresh token than presented, which the provider just refused: another
// program may have refreshed with it a moment before, and be writing its
// answer now. nil when none comes.
func (e *Engine) rotatedInMirror(id string, presented Secret) *Token {
	if e.Mirror == nil {
		return nil
	}
	deadline := time.Now().Add(e.MirrorWait)
	for {
		if m := e.mirroredToken(id); m != nil && m.AccessToken != "" && m.RefreshToken != "" && m.RefreshToken != presented {
			return m
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// isInvalidGrant reports whether the provider refused a refresh token as
// invalid, expired or revoked (RFC 6749 §5.2) — as it refuses one it
// rotated away.
func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return isRefusal(err) && errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}
