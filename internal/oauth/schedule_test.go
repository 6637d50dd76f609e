package oauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// syncFixture is an engine inside a synctest bubble: its clock is the
// bubble's, its provider a handler.
type syncFixture struct {
	*fixture
	cancel context.CancelFunc
	done   chan error
}

func newSyncFixture(t *testing.T) *syncFixture {
	t.Helper()
	db := storetest.Open(t)
	te := newTokenHandler()
	te.Server = &httptest.Server{URL: "http://provider.test"}
	f := &fixture{db: db, ev: &events{}, te: te}
	f.e = oauth.NewEngine(db, f.ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	f.e.HTTPClient = &http.Client{Transport: oauthtest.InProcess{Handler: te}, Timeout: 30 * time.Second}
	return &syncFixture{fixture: f}
}

// start runs the scheduler until the test's end.
func (f *syncFixture) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- f.e.Run(ctx) }()
	synctest.Wait()
}

func (f *syncFixture) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	if err := <-f.done; err != nil {
		t.Errorf("Run() = %v", err)
	}
}

func (f *syncFixture) login(t *testing.T, appID, answer string) {
	t.Helper()
	f.register(t, appID, nil)
	fl, _, err := f.e.StartFlow(context.Background(), "skill.test", appID)
	if err != nil {
		t.Fatal(err)
	}
	f.te.set(jsonAnswer(200, answer))
	if _, err := f.e.Complete(context.Background(), "skill.test_"+appID, url.Values{"state": {fl.State.Reveal()}, "code": {"C"}}, ""); err != nil {
		t.Fatal(err)
	}
}

// advance moves the bubble's clock and lets everything due run.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestScheduleRefreshesBeforeExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lifetime int           // expires_in, seconds
		due      time.Duration // when the first refresh must happen
	}{
		{"long-lived: 60 s before expiry", 3600, 3540 * time.Second},
		{"short-lived: at half its life", 60, 30 * time.Second},
		{"medium: the later of the two", 100, 50 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newSyncFixture(t)
				answer := func(n int) string {
					return `{"access_token":"AT-` + string(rune('0'+n)) + `","token_type":"Bearer","expires_in":` + itoa(tt.lifetime) + `,"refresh_token":"RT-` + string(rune('0'+n)) + `"}`
				}
				f.login(t, "app", answer(1))
				f.start(t)
				defer f.stop(t)
				f.te.set(jsonAnswer(200, answer(2)))

				advance(tt.due - time.Second)
				if n := f.te.count(); n != 1 {
					t.Fatalf("%d requests a second before the refresh is due, want 1 (the login)", n)
				}
				advance(time.Second)
				if n := f.te.count(); n != 2 {
					t.Fatalf("%d requests when the refresh is due, want 2", n)
				}
				if got := f.te.last(t).form.Get("refresh_token"); got != "RT-1" {
					t.Errorf("refreshed with %q, want RT-1", got)
				}
				// The next refresh is planned from the new token.
				f.te.set(jsonAnswer(200, answer(3)))
				advance(tt.due - time.Second)
				if n := f.te.count(); n != 2 {
					t.Fatalf("%d requests before the second refresh is due, want 2", n)
				}
				advance(time.Second)
				if n := f.te.count(); n != 3 || f.te.last(t).form.Get("refresh_token") != "RT-2" {
					t.Fatalf("second refresh: %d requests, sent %q; want 3 with the rotated RT-2", n, f.te.last(t).form.Get("refresh_token"))
				}
				if got := len(f.ev.snapshot().refresh); got != 2 {
					t.Errorf("%d TokenRefreshed events, want 2", got)
				}
			})
		})
	}
}

func TestScheduleRebuiltAtStartup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.login(t, "expired", `{"access_token":"A","token_type":"Bearer","expires_in":600,"refresh_token":"R-expired"}`)
		f.login(t, "later", `{"access_token":"B","token_type":"Bearer","expires_in":7200,"refresh_token":"R-later"}`)
		f.login(t, "norefresh", `{"access_token":"C","token_type":"Bearer","expires_in":60}`)
		f.login(t, "noexpiry", `{"access_token":"D","token_type":"Bearer","refresh_token":"R-forever"}`)
		// The daemon was down for 20 minutes.
		time.Sleep(20 * time.Minute)
		f.te.set(jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","expires_in":600}`))
		before := f.te.count()
		f.start(t)
		defer f.stop(t)
		if n := f.te.count() - before; n != 1 || f.te.last(t).form.Get("refresh_token") != "R-expired" {
			t.Fatalf("at start-up: %d refreshes (last with %q), want the expired token refreshed at once", n, f.te.last(t).form.Get("refresh_token"))
		}
		advance(7200*time.Second - 20*time.Minute - 61*time.Second)
		sent := map[string]int{}
		f.te.mu.Lock()
		for _, r := range f.te.requests {
			sent[r.form.Get("refresh_token")]++
		}
		f.te.mu.Unlock()
		if sent["R-later"] != 0 || sent["R-forever"] != 0 || sent[""] != 4 {
			t.Errorf("refreshes sent = %v; only the expired one is due", sent)
		}
	})
}

func TestScheduleRetriesPassingFaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.e.RetryMin, f.e.RetryMax = 30*time.Second, 2*time.Minute
		f.login(t, "app", `{"access_token":"A","token_type":"Bearer","expires_in":3600,"refresh_token":"R1"}`)
		f.start(t)
		defer f.stop(t)
		var fails atomic.Int32
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			fails.Add(1)
			jsonAnswer(503, `{"error":"temporarily_unavailable"}`)(w, r)
		})
		advance(3540 * time.Second)
		// Backoff 30 s, 60 s, 120 s, 120 s (cap), each ±20%.
		var at []time.Duration
		start := time.Now()
		for len(at) < 4 {
			n := fails.Load()
			advance(time.Second)
			if fails.Load() > n {
				at = append(at, time.Since(start))
				start = time.Now()
			}
			if time.Since(start) > time.Hour {
				t.Fatal("no retry within an hour")
			}
		}
		for i, want := range []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 120 * time.Second} {
			if at[i] < want*8/10 || at[i] > want*12/10+time.Second {
				t.Errorf("retry %d after %v, want %v ±20%%", i+1, at[i], want)
			}
		}
		tok, err := f.db.Token("skill.test_app")
		if err != nil || tok.RefreshToken != "R1" || tok.AccessToken != "A" {
			t.Fatalf("token after passing faults = %v, %v; want it kept", tok, err)
		}
		if len(f.ev.snapshot().reauth) != 0 {
			t.Errorf("reauth required after passing faults")
		}
		// The provider recovers: the next retry succeeds and the plan is
		// back to normal.
		f.te.set(jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","expires_in":3600,"refresh_token":"R2"}`))
		advance(3 * time.Minute)
		if tok, _ := f.db.Token("skill.test_app"); tok.RefreshToken != "R2" {
			t.Fatalf("after recovery the token is not refreshed")
		}
		n := f.te.count()
		advance(3539*time.Second - 3*time.Minute)
		if f.te.count() != n {
			t.Errorf("a refresh before the new token is due")
		}
	})
}

func TestScheduleStopsOnRefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.login(t, "app", `{"access_token":"A","token_type":"Bearer","expires_in":120,"refresh_token":"R1"}`)
		f.start(t)
		defer f.stop(t)
		f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
		advance(60 * time.Second)
		n := f.te.count()
		advance(48 * time.Hour)
		if f.te.count() != n {
			t.Errorf("%d more requests after invalid_grant, want none", f.te.count()-n)
		}
		if got := f.ev.snapshot().reauth; len(got) != 1 || got[0] != "invalid_grant" {
			t.Errorf("ReauthRequired events = %v, want one invalid_grant", got)
		}
		if tok, err := f.db.Token("skill.test_app"); err != nil || tok.RefreshToken != "R1" {
			t.Errorf("token after refusal = %v, %v; want it kept", tok, err)
		}
	})
}

func TestScheduleForgetsRevokedAndRemovedApps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		answer := `{"access_token":"A","token_type":"Bearer","expires_in":600,"refresh_token":"R"}`
		f.login(t, "revoked", answer)
		f.login(t, "removed", answer)
		f.login(t, "reregistered", answer)
		f.start(t)
		defer f.stop(t)
		if _, err := f.e.Revoke(context.Background(), "skill.test", "revoked"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.e.Unregister(context.Background(), "skill.test", "removed"); err != nil {
			t.Fatal(err)
		}
		f.register(t, "reregistered", func(r *oauth.Registration) { r.ClientID = "another-client" })
		n := f.te.count()
		advance(24 * time.Hour)
		if f.te.count() != n {
			t.Errorf("%d refreshes for apps without a token", f.te.count()-n)
		}
	})
}

func TestScheduleBoundsConcurrentRefreshes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.e.MaxRefreshes = 2
		for _, app := range []string{"a", "b", "c", "d", "e"} {
			f.login(t, app, `{"access_token":"A","token_type":"Bearer","expires_in":600,"refresh_token":"R"}`)
		}
		var inFlight, most atomic.Int32
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Second) // the provider takes a second
			inFlight.Add(-1)
			jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","expires_in":600}`)(w, r)
		})
		time.Sleep(time.Hour)
		f.start(t)
		defer f.stop(t)
		advance(10 * time.Second)
		if got := len(f.ev.snapshot().refresh); got != 5 {
			t.Fatalf("%d refreshed, want all 5", got)
		}
		if most.Load() != 2 {
			t.Errorf("at most %d refreshes at once, want 2", most.Load())
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestScheduleSweepsExpiredLogins: a login nobody finished does not keep
// its verifier on disk past its life.
func TestScheduleSweepsExpiredLogins(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.register(t, "app", nil)
		if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "app"); err != nil {
			t.Fatal(err)
		}
		f.start(t)
		defer f.stop(t)
		if flows, _ := f.db.Flows(); len(flows) != 1 {
			t.Fatalf("%d pending logins, want 1", len(flows))
		}
		advance(2*f.e.FlowTTL + time.Second)
		if flows, _ := f.db.Flows(); len(flows) != 0 {
			t.Errorf("%d pending logins long after they expired, want 0", len(flows))
		}
	})
}
