package oauth

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// The lifetimes a provider announces are believed within these bounds. A
// longer one is read as the longest: the token is refreshed, or the login
// ends, early rather than never. A shorter one is read as the shortest, and
// the schedule keeps MinRefreshInterval between refreshes whatever they say.
const (
	// An access token is refreshed at the latest a year after it was
	// issued (expires_in).
	minTokenLifetime = time.Second
	maxTokenLifetime = 365 * 24 * time.Hour
	// A refresh token's own lifetime (refresh_token_expires_in: GitHub,
	// Microsoft) is believed up to ten years.
	minRefreshLifetime = time.Second
	maxRefreshLifetime = 10 * 365 * 24 * time.Hour
	// A device code (RFC 8628 §3.2 expires_in) lives a minute to an hour:
	// providers issue 5 to 30 minutes.
	minDeviceLifetime = time.Minute
	maxDeviceLifetime = time.Hour
	// A device login is polled every second at most, every minute at
	// least, until slow_down stretches it (RFC 8628 §3.5).
	minPollInterval = time.Second
	maxPollInterval = time.Minute
)

// seconds reads a number of seconds a provider sent: a JSON number, or a
// numeric string (PayPal's expires_in, every value of a form answer). ok is
// false when v is absent, not a number, or not positive. A positive value
// is clamped to [lo, hi], so that no time computed from it overflows.
func seconds(v any, lo, hi time.Duration) (d time.Duration, ok bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case json.Number:
		if f, ok = decimal(string(v)); !ok {
			return 0, false
		}
	case string:
		if f, ok = decimal(v); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || f <= 0 {
		return 0, false
	}
	// Compared as floats: a Duration cannot hold what is being bounded.
	if f >= hi.Seconds() {
		return hi, true
	}
	return max(time.Duration(f*float64(time.Second)), lo), true
}

// decimal reads a number written in decimal, as in JSON, with an exponent
// or not: no hex, no "Inf" or "NaN". Beyond float64's range it is ±Inf,
// which seconds clamps like any other large value.
func decimal(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		default:
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// lifetime reads one lifetime of a token response in raw, clamped to
// [lo, hi], and rewrites it in raw as the whole seconds the engine uses, or
// removes it when it cannot be used: skills and the ovos_utils mirror read
// it beside expires_at, and must not find a value that contradicts it or
// that overflows their own arithmetic.
func lifetime(raw map[string]any, key string, lo, hi time.Duration) (time.Duration, bool) {
	v, present := raw[key]
	if !present {
		return 0, false
	}
	d, ok := seconds(v, lo, hi)
	if !ok {
		delete(raw, key)
		return 0, false
	}
	raw[key] = int64(d / time.Second)
	return d, true
}
