package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// maxLifetime is the longest access token lifetime the engine believes.
const maxLifetime = 365 * 24 * time.Hour

// TestProviderLifetimesClamped: whatever expires_in a provider sends, the
// stored expiry is after the moment the token was obtained and at most a
// year later, or absent; never in the past through an overflow.
func TestProviderLifetimesClamped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn string // the JSON value
		want      time.Duration
	}{
		{"an hour", `3600`, time.Hour},
		{"fraction", `1.5`, 1500 * time.Millisecond},
		{"numeric string", `"7200"`, 2 * time.Hour},
		{"overflows a Duration", `9223372037`, maxLifetime},
		{"overflows a Duration, as a string", `"9223372037"`, maxLifetime},
		{"overflows an int64", `92233720368547758070`, maxLifetime},
		{"huge float", `1e300`, maxLifetime},
		{"huge float string", `"1e300"`, maxLifetime},
		{"two years", `63072000`, maxLifetime},
		{"sub-second", `0.001`, time.Second},
		{"zero", `0`, 0},
		{"negative", `-5`, 0},
		{"hugely negative", `-1e300`, 0},
		{"not a number", `"soon"`, 0},
		{"not a number either", `{"s":1}`, 0},
		{"null", `null`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.register(t, "app", nil)
			_, q := f.start(t, "app")
			f.te.set(jsonAnswer(200, `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":`+tt.expiresIn+`}`))
			if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
				t.Fatal(err)
			}
			tok, err := f.db.Token("skill.test_app")
			if err != nil {
				t.Fatal(err)
			}
			now := f.clk.Now()
			if tt.want == 0 {
				if !tok.Expiry.IsZero() {
					t.Errorf("expires_in %s: expiry %v, want none", tt.expiresIn, tok.Expiry)
				}
			} else if !tok.Expiry.Equal(now.Add(tt.want)) {
				t.Errorf("expires_in %s: expiry %v (%v from now), want %v from now", tt.expiresIn, tok.Expiry, tok.Expiry.Sub(now), tt.want)
			}
		})
	}
}

// refreshCounter is a token endpoint that answers every refresh with
// answer(n) for the n-th one and records when each arrived. After limit
// refreshes it answers an hour-long token, so a storm ends and the test can
// count it rather than hang.
type refreshCounter struct {
	mu     sync.Mutex
	at     []time.Time
	answer func(n int) string
	limit  int
}

func (c *refreshCounter) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	n := len(c.at)
	c.mu.Unlock()
	body := c.answer(n)
	if n > c.limit {
		body = `{"access_token":"AT-calm","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-calm"}`
	}
	jsonAnswer(200, body)(w, r)
}

func (c *refreshCounter) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// checkCalm fails unless the refreshes recorded over span are at most one
// per floor and at least floor apart.
func checkCalm(t *testing.T, at []time.Time, span, floor time.Duration) {
	t.Helper()
	if most := int(span/floor) + 1; len(at) > most {
		t.Fatalf("%d refreshes in %v, want at most %d (one per %v)", len(at), span, most, floor)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < floor {
			t.Errorf("refreshes %d and %d are %v apart, want at least %v", i, i+1, gap, floor)
		}
	}
}

// TestNoRefreshStormFromProviderLifetimes: an expires_in that overflows,
// or a token that lives a second, does not make the daemon refresh in a
// loop: scheduled refreshes of an app are at least 30 s apart.
func TestNoRefreshStormFromProviderLifetimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn string
		want      int // refreshes in 5 minutes
	}{
		{"overflowing expires_in", `9223372037`, 0},
		{"overflowing expires_in as a string", `"9223372037"`, 0},
		{"one-second tokens", `1`, 10},
		{"sub-second tokens", `0.2`, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newSyncFixture(t)
				answer := `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":` + tt.expiresIn + `}`
				f.login(t, "app", answer)
				c := &refreshCounter{limit: 100, answer: func(int) string { return answer }}
				f.te.set(c.serve)
				f.start(t)
				defer f.stop(t)
				advance(5 * time.Minute)
				at := c.times()
				checkCalm(t, at, 5*time.Minute, 30*time.Second)
				if len(at) != tt.want {
					t.Errorf("%d refreshes in 5 minutes, want %d", len(at), tt.want)
				}
			})
		})
	}
}

// TestNoRefreshStormAfterRestart: a token stored by an older version with
// an overflowed expiry (in 1759) is refreshed once at start-up, and a
// provider that then issues one-second tokens is asked every 30 s, not in
// a loop.
func TestNoRefreshStormAfterRestart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.register(t, "app", nil)
		now := time.Now()
		overflowing := int64(9223372037)
		absurd := &oauth.Token{
			AccessToken: "AT-old", TokenType: "Bearer", RefreshToken: "RT-old",
			Obtained: now.Add(-time.Hour),
			Expiry:   now.Add(-time.Hour).Add(time.Duration(overflowing) * time.Second), // what the overflow stored
			Raw:      map[string]any{"expires_in": float64(9223372037)},
		}
		if absurd.Expiry.Year() > 1800 {
			t.Fatalf("the stored expiry %v is not the overflowed one", absurd.Expiry)
		}
		if err := f.db.PutToken("skill.test_app", absurd); err != nil {
			t.Fatal(err)
		}
		c := &refreshCounter{limit: 100, answer: func(int) string {
			return `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":1}`
		}}
		f.te.set(c.serve)
		f.start(t)
		defer f.stop(t)
		at := c.times()
		if len(at) != 1 || !at[0].Equal(now) {
			t.Fatalf("refreshes at start-up at %v, want one at once", at)
		}
		advance(5 * time.Minute)
		at = c.times()
		checkCalm(t, at, 5*time.Minute, 30*time.Second)
		if len(at) != 11 {
			t.Errorf("%d refreshes in 5 minutes after start-up, want 11 (one at once, then every 30 s)", len(at))
		}
	})
}

// TestRequestedRefreshNotDelayedByFloor: the 30 s between scheduled
// refreshes does not hold back a skill that asks for a token whose access
// token expired, or asks for a refresh.
func TestRequestedRefreshNotDelayedByFloor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		answer := `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":1}`
		f.login(t, "app", answer)
		c := &refreshCounter{limit: 1000, answer: func(n int) string {
			return `{"access_token":"AT-` + itoa(n) + `","token_type":"Bearer","refresh_token":"RT","expires_in":1}`
		}}
		f.te.set(c.serve)
		f.start(t)
		defer f.stop(t)
		advance(2 * time.Second) // the token expired; its scheduled refresh is 28 s away
		_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
		if err != nil || tok.AccessToken != "AT-1" || len(c.times()) != 1 {
			t.Fatalf("Token() of an expired token = %v, %v after %d refreshes; want it refreshed at once", tok, err, len(c.times()))
		}
		advance(2 * time.Second)
		if _, tok, err = f.e.Refresh(context.Background(), "skill.test", "app"); err != nil || tok.AccessToken != "AT-2" {
			t.Fatalf("Refresh() = %v, %v; want a refresh at once", tok, err)
		}
		// The schedule counts from the last refresh, whoever asked for it.
		advance(29 * time.Second)
		if n := len(c.times()); n != 2 {
			t.Errorf("%d refreshes 29 s after the last, want 2", n)
		}
		advance(time.Second)
		if n := len(c.times()); n != 3 {
			t.Errorf("%d refreshes 30 s after the last, want 3", n)
		}
	})
}

// TestRefreshTokenLifetime: refresh_token_expires_in (GitHub, Microsoft)
// is kept on the token, clamped like expires_in, and carried over by a
// refresh that keeps the refresh token.
func TestRefreshTokenLifetime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	f.te.set(jsonAnswer(200, `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":28800,"refresh_token_expires_in":"15811200"}`))
	tok, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if err != nil {
		t.Fatal(err)
	}
	loggedIn := f.clk.Now()
	if want := loggedIn.Add(15811200 * time.Second); !tok.RefreshExpiry.Equal(want) {
		t.Errorf("refresh expiry %v, want %v", tok.RefreshExpiry, want)
	}
	f.clk.Add(time.Hour)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":28800}`))
	if _, tok, err = f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if want := loggedIn.Add(15811200 * time.Second); !tok.RefreshExpiry.Equal(want) {
		t.Errorf("after a refresh that kept the refresh token: refresh expiry %v, want %v", tok.RefreshExpiry, want)
	}
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":28800,"refresh_token":"RT-3","refresh_token_expires_in":9223372037}`))
	if _, tok, err = f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if want := f.clk.Now().Add(10 * 365 * 24 * time.Hour); !tok.RefreshExpiry.Equal(want) {
		t.Errorf("refresh_token_expires_in 9223372037: refresh expiry %v, want ten years from now %v", tok.RefreshExpiry, want)
	}
	if stored, err := f.db.Token("skill.test_app"); err != nil || !stored.RefreshExpiry.Equal(tok.RefreshExpiry) {
		t.Errorf("stored refresh expiry = %v, %v; want %v", stored.RefreshExpiry, err, tok.RefreshExpiry)
	}
}

// TestDeviceLifetimesClamped: a device answer's interval and expires_in,
// whatever their form, give a poll every 1 s to 1 min and a login that
// lasts 1 min to 1 h; what cannot be read is the default.
func TestDeviceLifetimesClamped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		interval, expiresIn string
		every, lasts        time.Duration
	}{
		{`5`, `900`, 5 * time.Second, 15 * time.Minute},
		{`"7"`, `"1800"`, 7 * time.Second, 30 * time.Minute},
		{`2.5`, `600.5`, 2500 * time.Millisecond, 600500 * time.Millisecond},
		{`0`, `0`, 5 * time.Second, 10 * time.Minute},
		{`-1`, `-1`, 5 * time.Second, 10 * time.Minute},
		{`"soon"`, `"later"`, 5 * time.Second, 10 * time.Minute},
		{`null`, `null`, 5 * time.Second, 10 * time.Minute},
		{`0.001`, `1`, time.Second, time.Minute},
		{`3600`, `86400`, time.Minute, time.Hour},
		{`9223372037`, `"9223372037"`, time.Minute, time.Hour},
		{`1e300`, `1e300`, time.Minute, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.interval+","+tt.expiresIn, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.te.set(jsonAnswer(200, `{"device_code":"D","user_code":"WDJB-MJHT","verification_uri":"https://provider.example/device","interval":`+tt.interval+`,"expires_in":`+tt.expiresIn+`}`))
			f.register(t, "tv", func(r *oauth.Registration) { r.DeviceEndpoint = f.te.URL + "/device" })
			fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
			if err != nil {
				t.Fatalf("StartFlow() = %v", err)
			}
			if fl.Interval != tt.every || fl.Expires.Sub(f.clk.Now()) != tt.lasts {
				t.Errorf("interval %s, expires_in %s: polls every %v for %v, want every %v for %v", tt.interval, tt.expiresIn, fl.Interval, fl.Expires.Sub(f.clk.Now()), tt.every, tt.lasts)
			}
		})
	}
}
