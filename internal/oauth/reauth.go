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
