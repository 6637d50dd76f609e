package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// observed records what the engine tells its Observer, one line a call.
type observed struct {
	mu    sync.Mutex
	calls []string
}

func (o *observed) add(s string) {
	o.mu.Lock()
	o.calls = append(o.calls, s)
	o.mu.Unlock()
}

func (o *observed) LoginStarted(mode string)      { o.add("started " + mode) }
func (o *observed) LoginCompleted(mode string)    { o.add("completed " + mode) }
func (o *observed) LoginFailed(mode, code string) { o.add("failed " + mode + " " + code) }
func (o *observed) Refreshed()                    { o.add("refreshed") }
func (o *observed) RefreshFailed(code string)     { o.add("refresh failed " + code) }

// take returns the calls so far and forgets them.
func (o *observed) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.calls
	o.calls = nil
	return c
}

func checkObserved(t *testing.T, o *observed, want ...string) {
	t.Helper()
	if got := o.take(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}

// TestObserverLogins: each login is seen once when it opens and once when
// it ends, with its mode and, for a failure, its error code; an answer that
// ends no login is not a failed login.
func TestObserverLogins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(*oauth.Registration)
		mode string
	}{
		{"lan", nil, oauth.LoginLAN},
		{"loopback", func(r *oauth.Registration) { r.Login = oauth.LoginLoopback }, oauth.LoginLoopback},
		{"relay", func(r *oauth.Registration) { r.RelayURL = "https://relay.example/ovos/" }, oauth.LoginRelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			o := &observed{}
			f.e.Observer = o
			f.register(t, "app", tt.mod)

			_, q := f.start(t, "app")
			checkObserved(t, o, "started "+tt.mode)
			if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
				t.Fatal(err)
			}
			checkObserved(t, o, "completed "+tt.mode)

			_, q = f.start(t, "app")
			if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "error": {"access_denied"}}); oauth.ErrorCode(err) != oauth.CodeAccessDenied {
				t.Fatalf("complete(error=access_denied) = %v", err)
			}
			checkObserved(t, o, "started "+tt.mode, "failed "+tt.mode+" "+oauth.CodeAccessDenied)

			// The same answer again, and a forged one: no login ends.
			f.complete("app", url.Values{"state": {q.Get("state")}, "error": {"access_denied"}})
			f.complete("app", url.Values{"state": {"forged"}, "code": {"C"}})
			checkObserved(t, o)

			// The token endpoint refuses the code.
			_, q = f.start(t, "app")
			f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
			if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); oauth.ErrorCode(err) != oauth.CodeExchangeFailed {
				t.Fatalf("complete() with a refused code = %v", err)
			}
			checkObserved(t, o, "started "+tt.mode, "failed "+tt.mode+" "+oauth.CodeExchangeFailed)
		})
	}
}

// TestObserverRefreshes: refreshes that store a token, passing faults,
// refusals and a token that could not be saved are each seen once; a
// refresh that never reaches the provider is not.
func TestObserverRefreshes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fs, e := f.withFailingStore()
	o := &observed{}
	e.Observer = o
	f.loggedIn(t, "app")
	o.take()
	ctx := context.Background()

	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	if _, _, err := e.Refresh(ctx, "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	checkObserved(t, o, "refreshed")

	f.te.set(jsonAnswer(503, `down`))
	e.Refresh(ctx, "skill.test", "app")
	checkObserved(t, o, "refresh failed "+oauth.CodeProviderUnavailable)

	fs.setFail(true)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-3"}`))
	e.Refresh(ctx, "skill.test", "app")
	checkObserved(t, o, "refresh failed "+oauth.CodeInternal)
	fs.setFail(false)
	e.Refresh(ctx, "skill.test", "app") // saves the unsaved token
	checkObserved(t, o, "refreshed")

	if n, err := e.AppsNeedingReauth(); n != 0 || err != nil {
		t.Errorf("AppsNeedingReauth() = %d, %v; want 0", n, err)
	}
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	e.Refresh(ctx, "skill.test", "app")
	checkObserved(t, o, "refresh failed "+oauth.CodeReauthRequired)
	if n, err := e.AppsNeedingReauth(); n != 1 || err != nil {
		t.Errorf("AppsNeedingReauth() after invalid_grant = %d, %v; want 1", n, err)
	}
	// The dead refresh token is not sent again: no refresh, no failure.
	e.Refresh(ctx, "skill.test", "app")
	checkObserved(t, o)

	f.te.set(jsonAnswer(200, `{"access_token":"AT-9","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-9"}`))
	_, q := f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	checkObserved(t, o, "started lan", "completed lan")
	if n, err := e.AppsNeedingReauth(); n != 0 || err != nil {
		t.Errorf("AppsNeedingReauth() after a new login = %d, %v; want 0", n, err)
	}
}

// TestObserverDeviceLogins: device logins, polled on the engine's timer,
// are seen as the others.
func TestObserverDeviceLogins(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		answer func(http.ResponseWriter, *http.Request)
		want   string
	}{
		{deviceToken, "completed device"},
		{oauthError("access_denied"), "failed device access_denied"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newDeviceFixture(t, &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){tt.answer}})
				o := &observed{}
				f.e.Observer = o
				f.start(t)
				defer f.stop(t)
				if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
					t.Fatal(err)
				}
				advance(time.Minute)
				checkObserved(t, o, "started device", tt.want)
			})
		})
	}
}
