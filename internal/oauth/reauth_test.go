package oauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// statusOf is the engine's status of one app of skill.test.
func (f *fixture) statusOf(t *testing.T, appID string) oauth.AppStatus {
	t.Helper()
	all, err := f.e.Status(context.Background(), "skill.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.AppID == appID {
			return a
		}
	}
	t.Fatalf("no status of %q in %+v", appID, all)
	return oauth.AppStatus{}
}

// logIn starts and completes a login of a registered app, the provider
// answering answer.
func (f *fixture) logIn(t *testing.T, appID, answer string) *oauth.Token {
	t.Helper()
	_, q := f.start(t, appID)
	f.te.set(jsonAnswer(200, answer))
	tok, err := f.complete(appID, url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return tok
}

// TestLoginEnds: when a login ends is worked out, in this order, from the
// provider's refresh_token_expires_in, from the provider table's fixed
// lifetime (Spotify: 6 months after the login, named or known by its token
// endpoint), else not at all; a refresh does not move a fixed end, and a
// token stored before the login time was kept counts from when it was
// issued.
func TestLoginEnds(t *testing.T) {
	t.Parallel()
	const (
		plain   = `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT"}`
		limited = `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT","refresh_token_expires_in":604800}`
		noRT    = `{"access_token":"AT","token_type":"Bearer","expires_in":3600}`
	)
	spotifyNamed := func(r *oauth.Registration) { r.Provider = "spotify" }
	spotifyEndpoints := func(r *oauth.Registration) {
		r.AuthEndpoint, r.TokenEndpoint = "https://accounts.spotify.com/authorize", "https://accounts.spotify.com/api/token"
	}
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		reg     func(*oauth.Registration)
		answer  string
		refresh string // the answer of a refresh a month later; "" for none
		want    time.Time
	}{
		{"refresh_token_expires_in", nil, limited, "", start.Add(7 * 24 * time.Hour)},
		{"refresh_token_expires_in kept by a refresh", nil, limited, plain, start.Add(7 * 24 * time.Hour)},
		{"refresh_token_expires_in of a refresh", nil, limited, limited, start.AddDate(0, 1, 0).Add(7 * 24 * time.Hour)},
		{"spotify named", spotifyNamed, plain, "", time.Date(2027, 5, 28, 12, 0, 0, 0, time.UTC)},
		{"spotify by its token endpoint", spotifyEndpoints, plain, "", time.Date(2027, 5, 28, 12, 0, 0, 0, time.UTC)},
		{"spotify, not moved by a rotating refresh", spotifyEndpoints, plain, `{"access_token":"AT2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT2"}`, time.Date(2027, 5, 28, 12, 0, 0, 0, time.UTC)},
		{"the provider's own end first", spotifyNamed, limited, "", start.Add(7 * 24 * time.Hour)},
		{"no end known", nil, plain, plain, time.Time{}},
		{"no refresh token: no login to end", spotifyNamed, noRT, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.e.HTTPClient = &http.Client{Transport: oauthtest.InProcess{Handler: f.te}}
			f.register(t, "app", tt.reg)
			f.logIn(t, "app", tt.answer)
			if tt.refresh != "" {
				f.clk.set(start.AddDate(0, 1, 0))
				f.te.set(jsonAnswer(200, tt.refresh))
				if _, _, err := f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
					t.Fatalf("Refresh() = %v", err)
				}
			}
			if got := f.statusOf(t, "app").LoginExpiry; !got.Equal(tt.want) {
				t.Errorf("LoginExpiry = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLoginEndsOnTheLastDayOfAShortMonth: 6 months after Aug 31 is the end
// of February, never March.
func TestLoginEndsOnTheLastDayOfAShortMonth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clk.set(time.Date(2026, 8, 31, 9, 0, 0, 0, time.UTC))
	f.register(t, "app", func(r *oauth.Registration) { r.Provider = "spotify" })
	f.logIn(t, "app", `{"access_token":"AT","token_type":"Bearer","expires_in":3600,"refresh_token":"RT"}`)
	if got, want := f.statusOf(t, "app").LoginExpiry, time.Date(2027, 2, 28, 9, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("LoginExpiry = %v, want %v", got, want)
	}
}

// TestLoginTimeOfAnOlderToken: a token stored without its login time (by
// an older version, or imported) counts from when it was issued, and keeps
// that across refreshes, also one with a refresh token adopted from the
// ovos_utils mirror.
func TestLoginTimeOfAnOlderToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", func(r *oauth.Registration) { r.Provider = "spotify" })
	issued := f.clk.Now().Add(-30 * 24 * time.Hour)
	if err := f.db.PutToken("skill.test_app", &oauth.Token{AccessToken: "AT", RefreshToken: "RT", TokenType: "Bearer",
		Obtained: issued, Expiry: issued.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	want := issued.AddDate(0, 6, 0)
	if got := f.statusOf(t, "app").LoginExpiry; !got.Equal(want) {
		t.Fatalf("LoginExpiry of the stored token = %v, want %v", got, want)
	}
	f.te.set(jsonAnswer(200, `{"access_token":"AT2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT2"}`))
	if _, _, err := f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if got := f.statusOf(t, "app").LoginExpiry; !got.Equal(want) {
		t.Errorf("LoginExpiry after a refresh = %v, want %v", got, want)
	}
	f.e.Mirror = mirrorWith{rt: "RT-python", exp: f.clk.Now().Add(2 * time.Hour)}
	f.clk.Add(time.Hour)
	if _, _, err := f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if f.te.last(t).form.Get("refresh_token") != "RT-python" {
		t.Fatalf("refreshed with %q, want the mirror's", f.te.last(t).form.Get("refresh_token"))
	}
	if got := f.statusOf(t, "app").LoginExpiry; !got.Equal(want) {
		t.Errorf("LoginExpiry after a refresh with the mirror's refresh token = %v, want %v", got, want)
	}
}

// loginAs registers appID with mod and completes a login whose token
// answer is answer, in a synctest bubble.
func (f *syncFixture) loginAs(t *testing.T, appID string, mod func(*oauth.Registration), answer string) {
	t.Helper()
	f.register(t, appID, mod)
	fl, _, err := f.e.StartFlow(context.Background(), "skill.test", appID)
	if err != nil {
		t.Fatal(err)
	}
	f.te.set(jsonAnswer(200, answer))
	if _, err := f.e.Complete(context.Background(), "skill.test_"+appID, url.Values{"state": {fl.State.Reveal()}, "code": {"C"}}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestIdleLoginsKeptAlive: a provider that ends logins left unused
// (Microsoft: 90 days) has its apps refreshed at least every quarter of
// that, however long their access tokens last, or without an expiry at all.
func TestIdleLoginsKeptAlive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, provider, expiresIn string
		every                     time.Duration
	}{
		{"microsoft, a year's access token", "microsoft", `,"expires_in":31536000`, 90 * 24 * time.Hour / 4},
		{"microsoft, no expiry", "microsoft", ``, 90 * 24 * time.Hour / 4},
		{"google", "google", `,"expires_in":31536000`, 45 * 24 * time.Hour},
		{"homeassistant", "homeassistant", ``, 90 * 24 * time.Hour / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newSyncFixture(t)
				f.e.CheckClockEvery(24 * time.Hour)
				f.loginAs(t, "app", func(r *oauth.Registration) {
					r.Provider, r.InstanceURL, r.DeviceEndpoint, r.Login = tt.provider, "http://ha.local:8123", "", oauth.LoginLAN
				}, `{"access_token":"A1","token_type":"Bearer","refresh_token":"R1"`+tt.expiresIn+`}`)
				f.start(t)
				defer f.stop(t)
				f.te.set(jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","refresh_token":"R2"`+tt.expiresIn+`}`))
				for i := range 3 {
					advance(tt.every - time.Second)
					if n := f.te.count(); n != 1+i {
						t.Fatalf("%d requests a second before refresh %d, want %d", n, i+1, 1+i)
					}
					advance(time.Second)
					if n := f.te.count(); n != 2+i {
						t.Fatalf("%d requests a quarter of the idle lifetime after the last, want %d", n, 2+i)
					}
				}
			})
		})
	}
}

// TestRefreshedWhenTheLoginEnds: a login that ends (the provider said so
// with refresh_token_expires_in) is refreshed just before its end, which a
// rotating provider answers with a new refresh token, and at its end, which
// tells the skill (oauth.reauth.required) then, not at the next expiry of
// a long-lived access token.
func TestRefreshedWhenTheLoginEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.loginAs(t, "app", nil, `{"access_token":"A1","token_type":"Bearer","refresh_token":"R1","expires_in":31536000,"refresh_token_expires_in":604800}`)
		f.start(t)
		defer f.stop(t)
		f.te.set(jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","expires_in":31536000}`))
		advance(7*24*time.Hour - time.Minute - time.Second)
		if n := f.te.count(); n != 1 {
			t.Fatalf("%d requests before the end, want 1 (the login)", n)
		}
		advance(time.Second)
		if n := f.te.count(); n != 2 {
			t.Fatalf("%d requests a minute before the end, want a refresh", n)
		}
		f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
		advance(time.Minute)
		if n, ev := f.te.count(), f.ev.snapshot(); n != 3 || len(ev.reauth) != 1 {
			t.Fatalf("at the end: %d requests, reauth events %v; want a refresh, refused, and the skill told", n, ev.reauth)
		}
	})
}

// restart stops the scheduler and starts another engine on the same store,
// as a restart of the daemon does.
func (f *syncFixture) restart(t *testing.T) {
	t.Helper()
	f.stop(t)
	e := oauth.NewEngine(f.db, f.ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	e.HTTPClient, e.Now, e.Monotonic = f.e.HTTPClient, f.e.Now, f.e.Monotonic
	f.e = e
	f.start(t)
}

const spotifyReason = "Spotify ends every login 6 months after it began, however often it is refreshed"

// TestReauthWarnedAhead: the skill hears that its login ends
// (oauth.reauth.upcoming) when the end comes within ReauthWarning, then
// once a day, also across a restart, until a new login.
func TestReauthWarnedAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.e.CheckClockEvery(24 * time.Hour)
		spotify := func(r *oauth.Registration) { r.Provider = "spotify" }
		// A year's access token: no refresh on the way.
		const answer = `{"access_token":"A1","token_type":"Bearer","refresh_token":"R1","expires_in":31536000}`
		f.loginAs(t, "app", spotify, answer)
		end := time.Now().AddDate(0, 6, 0)
		warning := "skill.test_app " + end.UTC().Format(time.RFC3339) + " " + spotifyReason
		f.start(t)
		defer func() { f.stop(t) }()

		advance(time.Until(end.Add(-14*24*time.Hour)) - time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 0 {
			t.Fatalf("warned before the window: %q", got)
		}
		advance(time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 1 || got[0] != warning {
			t.Fatalf("warnings as the end comes within 14 days = %q, want [%q]", got, warning)
		}
		advance(24*time.Hour - time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 1 {
			t.Fatalf("%d warnings within a day of the first, want 1", len(got))
		}
		advance(time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 2 {
			t.Fatalf("%d warnings a day after the first, want 2", len(got))
		}
		// A restart does not warn again before the day is over.
		advance(time.Hour)
		f.restart(t)
		if got := f.ev.snapshot().upcoming; len(got) != 2 {
			t.Fatalf("%d warnings after a restart, want still 2", len(got))
		}
		advance(23*time.Hour - time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 2 {
			t.Fatalf("%d warnings before the day is over, want 2", len(got))
		}
		advance(time.Second)
		if got := f.ev.snapshot().upcoming; len(got) != 3 {
			t.Fatalf("%d warnings on the third day, want 3", len(got))
		}
		// A new login ends the warnings: it ends 6 months from now.
		f.loginAs(t, "app", spotify, answer)
		synctest.Wait()
		advance(3 * 24 * time.Hour)
		if got := f.ev.snapshot().upcoming; len(got) != 3 {
			t.Fatalf("%d warnings after a new login, want still 3", len(got))
		}
		if got, want := f.statusOf(t, "app").LoginExpiry, time.Now().Add(-3*24*time.Hour).AddDate(0, 6, 0); !got.Equal(want) {
			t.Errorf("LoginExpiry after the new login = %v, want %v", got, want)
		}
	})
}

// TestReauthWarnedAtOnceForAShortLogin: a login shorter than the window
// (Google's 7 days for apps in "Testing") is warned of at once, then daily
// until its end, where the provider's refusal tells the skill it is over.
func TestReauthWarnedAtOnceForAShortLogin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.loginAs(t, "app", nil, `{"access_token":"A1","token_type":"Bearer","refresh_token":"R1","expires_in":31536000,"refresh_token_expires_in":604800}`)
		f.start(t)
		defer f.stop(t)
		if got := f.ev.snapshot().upcoming; len(got) != 1 || !strings.HasSuffix(got[0], "the provider said when this login's refresh token stops working") {
			t.Fatalf("warnings at once = %q, want one, with the provider's word as reason", got)
		}
		f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
		advance(7 * 24 * time.Hour)
		ev := f.ev.snapshot()
		if len(ev.upcoming) != 7 || len(ev.reauth) != 1 {
			t.Errorf("over the login's 7 days: %d warnings, %d reauth required; want 7 (one a day), then 1", len(ev.upcoming), len(ev.reauth))
		}
		advance(3 * 24 * time.Hour)
		if n := len(f.ev.snapshot().upcoming); n != 7 {
			t.Errorf("%d warnings after the end, want still 7", n)
		}
	})
}

// TestAppsLoginEnding counts the apps whose login ends within the warning
// window, for the metrics: not those without an end, ending later, or
// refused already.
func TestAppsLoginEnding(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.ReauthWarning = 14 * 24 * time.Hour
	for app, lifetime := range map[string]string{"soon": "604800", "ended": "1", "later": "2592000", "refused": "604800", "none": ""} {
		f.register(t, app, nil)
		answer := `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":3600}`
		if lifetime != "" {
			answer = `{"access_token":"AT","token_type":"Bearer","refresh_token":"RT","expires_in":3600,"refresh_token_expires_in":` + lifetime + `}`
		}
		f.logIn(t, app, answer)
	}
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	if _, _, err := f.e.Refresh(context.Background(), "skill.test", "refused"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Refresh() = %v, want reauth_required", err)
	}
	f.clk.Add(time.Minute)
	if n, err := f.e.AppsLoginEnding(); n != 2 || err != nil {
		t.Errorf("AppsLoginEnding() = %d, %v; want 2 (soon, ended)", n, err)
	}
}

// tokenNow is the access token the engine hands out for appID now.
func (f *syncFixture) tokenNow(t *testing.T, appID string) string {
	t.Helper()
	_, tok, err := f.e.Token(context.Background(), "skill.test", appID)
	if err != nil {
		t.Fatalf("Token() during a new login = %v, want the old token", err)
	}
	return tok.AccessToken.Reveal()
}

// TestNewLoginKeepsTheOldToken: while a new login of an app is pending, in
// any mode, or fails, the app's token goes on being handed out and
// refreshed; the new login's token replaces it once stored.
func TestNewLoginKeepsTheOldToken(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{oauth.LoginLAN, oauth.LoginRelay, oauth.LoginLoopback, oauth.LoginDevice} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending")}}
				f := newSyncFixture(t)
				f.e.RelayURL = "https://relay.example/ovos/"
				reg := func(r *oauth.Registration) {
					r.Login = mode
					if mode == oauth.LoginDevice {
						r.DeviceEndpoint = "http://provider.test/device"
					}
				}
				// Logged in once (by code: the device script has no token
				// for it), then registered for the mode of the new login.
				f.loginAs(t, "app", func(r *oauth.Registration) { reg(r); r.Login = oauth.LoginLAN },
					`{"access_token":"OLD","token_type":"Bearer","expires_in":3600,"refresh_token":"R1"}`)
				if res, err := f.e.Register(context.Background(), oauth.Registration{SkillID: "skill.test", AppID: "app", ClientID: "cid", ClientSecret: "csecret",
					AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: f.te.URL + "/token", Scope: "read write", ShellIntegration: true, PKCE: true,
					Login: mode, DeviceEndpoint: map[bool]string{true: "http://provider.test/device"}[mode == oauth.LoginDevice]}); err != nil || res.TokenDropped {
					t.Fatalf("Register(login %s) = %+v, %v", mode, res, err)
				}
				f.start(t)
				defer f.stop(t)
				f.te.set(script.serve)
				fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "app")
				if err != nil {
					t.Fatalf("StartFlow() = %v", err)
				}
				advance(30 * time.Second)
				if got := f.tokenNow(t, "app"); got != "OLD" {
					t.Errorf("token during the new login = %q, want OLD", got)
				}
				if st := f.statusOf(t, "app"); !st.Authorized {
					t.Errorf("status during the new login = %+v, want authorized", st)
				}
				// The skill registers again, unchanged, as on every oauth.ping.
				f.register(t, "app", reg)
				// A refresh due meanwhile happens with the old login.
				f.te.set(func(w http.ResponseWriter, r *http.Request) {
					if r.PostForm.Get("grant_type") != "refresh_token" {
						script.serve(w, r) // the device login goes on
						return
					}
					jsonAnswer(200, `{"access_token":"REFRESHED","token_type":"Bearer","expires_in":3600}`)(w, r)
				})
				advance(time.Hour)
				if n := len(f.ev.snapshot().issued); n != 1 {
					t.Fatalf("%d logins completed, want 1: the new one is pending", n)
				}
				if got := f.tokenNow(t, "app"); got != "REFRESHED" {
					t.Errorf("token after a refresh during the new login = %q, want REFRESHED", got)
				}
				// The new login ends with a token: it replaces the old.
				f.te.set(jsonAnswer(200, `{"access_token":"NEW","token_type":"Bearer","expires_in":3600,"refresh_token":"R2"}`))
				if mode == oauth.LoginDevice {
					f.te.set(func(w http.ResponseWriter, r *http.Request) {
						if r.URL.Path == "/device" {
							script.serve(w, r)
							return
						}
						jsonAnswer(200, `{"access_token":"NEW","token_type":"Bearer","expires_in":3600,"refresh_token":"R2"}`)(w, r)
					})
					// The first expired, unanswered.
					if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "app"); err != nil {
						t.Fatal(err)
					}
					advance(5 * time.Second)
				} else if _, err := f.e.Complete(context.Background(), "skill.test_app", url.Values{"state": {fl.State.Reveal()}, "code": {"C"}}, ""); err == nil {
					t.Fatalf("the answer after an hour = %v, want the login expired", err)
				} else {
					if got := f.tokenNow(t, "app"); got != "REFRESHED" {
						t.Errorf("token after the new login failed = %q, want REFRESHED", got)
					}
					f.loginAs(t, "app", reg, `{"access_token":"NEW","token_type":"Bearer","expires_in":3600,"refresh_token":"R2"}`)
				}
				if got := f.tokenNow(t, "app"); got != "NEW" {
					t.Errorf("token after the new login = %q, want NEW", got)
				}
			})
		})
	}
}
