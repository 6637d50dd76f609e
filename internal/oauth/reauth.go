package oauth

import "time"

// Reasons a login ends, as oauth.reauth.upcoming gives them when the
// provider table has none.
const reasonRefreshExpiry = "the provider said when this login's refresh token stops working"

// loginAt is when the user logged in for tok: its LoginAt, or for a token
// stored before LoginAt existed (or imported) the earliest time known, when
// it was issued.
func loginAt(tok *Token) time.Time {
	if !tok.LoginAt.IsZero() {
		return tok.LoginAt
	}
	return tok.Obtained
}

// loginEnd is when the app's login ends, and why in words: when the
// provider said its refresh token stops working (refresh_token_expires_in),
// else when the provider table says it ends logins (Spotify: 6 months
// after the login), else never (zero). Idle lifetimes are not ends: the
// schedule's refreshes keep such a login alive. A token without a refresh
// token has no login to end.
func (e *Engine) loginEnd(app *App, tok *Token) (time.Time, string) {
	if tok == nil || tok.RefreshToken == "" {
		return time.Time{}, ""
	}
	if !tok.RefreshExpiry.IsZero() {
		return tok.RefreshExpiry, reasonRefreshExpiry
	}
	if p, ok := app.knownProvider(); ok && p.LoginMonths > 0 {
		return addMonths(loginAt(tok), p.LoginMonths), p.LoginEnds
	}
	return time.Time{}, ""
}

// addMonths is t plus n calendar months, on the last day of the month where
// that month is shorter (Aug 31 + 6 months is Feb 28 or 29, not Mar 3):
// a login's end is never put after the provider's.
func addMonths(t time.Time, n int) time.Time {
	u := t.AddDate(0, n, 0)
	if u.Day() != t.Day() {
		// Overflowed into the next month: back to the last day of the one
		// meant.
		u = u.AddDate(0, 0, -u.Day())
	}
	return u
}

// warnEvery is how often a skill is told again that its login ends soon.
const warnEvery = 24 * time.Hour

// warnDue is when the skill is next told that the app's login ends: when
// the end comes within ReauthWarning (at once for a login shorter than
// that), then a day after the last warning, until the end. ok is false when
// no warning is to come: no end known, the end passed, or a new login is
// needed already.
func (e *Engine) warnDue(app *App, tok *Token, now time.Time) (time.Time, bool) {
	end, _ := e.loginEnd(app, tok)
	if end.IsZero() || app.NeedsReauth || !now.Before(end) {
		return time.Time{}, false
	}
	first := end.Add(-e.ReauthWarning)
	if tok.ReauthWarned.Before(first) {
		// Never warned of this end: a refresh may have moved it.
		return first, true
	}
	// A warning stamped in the future (a clock set back since) waits a day
	// from now at most.
	next := tok.ReauthWarned.Add(warnEvery)
	if later := now.Add(warnEvery); next.After(later) {
		next = later
	}
	if !next.Before(end) {
		return time.Time{}, false
	}
	return next, true
}

// warnReauth is the timed job that tells the skill its app's login ends
// soon (Events.ReauthUpcoming), and when to tell it again. When it was told
// is stored with the token, so that a restart does not tell it twice in a
// day; a new login's token starts afresh.
func (e *Engine) warnReauth(id string) (next time.Time, again bool) {
	unlock := e.locks.Lock(id)
	defer unlock()
	app, err := e.app(id)
	if err != nil {
		return time.Time{}, false // unregistered
	}
	stored, err := e.rawToken(id)
	if err != nil {
		return time.Time{}, false // revoked, or dropped by a registration
	}
	// Stored again below in the clock's frame, with the time of the
	// warning read now.
	tok, floating, j := stored, allTimes, e.jumps()
	if m, ok := e.markOf(id, stored); ok {
		tok, floating = m.at(stored, j), m.floating
	}
	now := e.Now()
	due, ok := e.warnDue(app, tok, now)
	if !ok || due.After(now) {
		return due, ok
	}
	end, reason := e.loginEnd(app, tok)
	e.logger.Info("login ends soon: the skill is told", "app", id, "ends", end, "reason", reason)
	e.events.ReauthUpcoming(app, end, reason)
	tok.ReauthWarned = now
	if err := e.store.PutToken(id, tok); err != nil {
		// Told all the same; a restart may tell it again.
		e.logger.Warn("time of the warning not saved", "app", id, "err", err)
	} else {
		e.tokenRewritten(id, tok, j, floating&^warnedTime)
	}
	return e.warnDue(app, tok, now)
}

// AppsLoginEnding counts the apps whose login ends within ReauthWarning, or
// has ended, and that have no new login yet: their skills are being told
// (oauth.reauth.upcoming). Those the provider refused already count in
// AppsNeedingReauth instead. It reads the store, so it is right after a
// restart too.
func (e *Engine) AppsLoginEnding() (int, error) {
	apps, err := e.store.Apps()
	if err != nil {
		return 0, err
	}
	tokens, err := e.store.Tokens()
	if err != nil {
		return 0, err
	}
	soon := e.Now().Add(e.ReauthWarning)
	n := 0
	for _, a := range apps {
		if a.NeedsReauth {
			continue
		}
		tok := tokens[a.MungedID()]
		if tok != nil {
			tok = e.inFrame(a.MungedID(), tok)
		}
		if end, _ := e.loginEnd(a, tok); !end.IsZero() && !end.After(soon) {
			n++
		}
	}
	return n, nil
}
