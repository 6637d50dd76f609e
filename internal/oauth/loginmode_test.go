package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestLoginModeChangeEndsPendingLogin: a registration that changes the
// app's login mode ends its pending login of the old mode: the link says
// the login was ended, the provider's answer to it is refused without a
// code exchange, and status no longer shows it. A registration that keeps
// the mode keeps the login.
func TestLoginModeChangeEndsPendingLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.register(t, "app", nil) // lan
	fl, q := f.start(t, "app")

	f.register(t, "app", func(r *oauth.Registration) { r.Scope = "read" })
	if _, err := f.e.PendingFlow(ctx, fl.ID); err != nil {
		t.Fatalf("after a registration in the same mode: PendingFlow() = %v, want the login pending", err)
	}

	f.register(t, "app", func(r *oauth.Registration) { r.Scope, r.Login = "read", oauth.LoginLoopback })
	_, err := f.e.PendingFlow(ctx, fl.ID)
	if oauth.ErrorCode(err) != oauth.CodeInvalidState || !strings.Contains(oauth.ErrorDescription(err), "ended") {
		t.Errorf("the old login's link after the mode changed: PendingFlow() = %v, want invalid_state saying it was ended", err)
	}
	if flows, err := f.db.FlowsOf("skill.test_app"); err != nil || len(flows) != 0 {
		t.Errorf("pending logins after the mode changed = %d (%v), want none", len(flows), err)
	}
	st, err := f.e.Status(ctx, "skill.test")
	if err != nil || len(st) != 1 || st[0].Flow != "" || st[0].Login != oauth.LoginLoopback {
		t.Errorf("Status() = %+v, %v; want login loopback and no pending login", st, err)
	}
	tok, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if tok != nil || oauth.ErrorCode(err) != oauth.CodeInvalidState || !strings.Contains(oauth.ErrorDescription(err), "ended") {
		t.Errorf("the old login's answer: Complete() = %v, %v; want invalid_state saying it was ended", tok, err)
	}
	if n := f.te.count(); n != 0 {
		t.Errorf("%d requests at the token endpoint, want none: the old login's code is never exchanged", n)
	}
	if ev := f.ev.snapshot(); len(ev.issued) != 0 || len(ev.failed) != 0 {
		t.Errorf("events = %+v, want none", ev)
	}

	// A login in the new mode works as ever.
	_, q = f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Errorf("a login in the new mode: Complete() = %v", err)
	}
}

// TestLoginModeChangeStopsDevicePolls: a device login pending when the app
// is registered for another mode stops at once: no more polls, nothing
// reported, nothing left planned or shown.
func TestLoginModeChangeStopsDevicePolls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){oauthError("authorization_pending")}}
		f := newDeviceFixture(t, script)
		f.start(t)
		defer f.stop(t)
		fl, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv")
		if err != nil {
			t.Fatal(err)
		}
		advance(7 * time.Second) // one poll
		f.register(t, "tv", func(r *oauth.Registration) {
			r.DeviceEndpoint, r.Login = "http://provider.test/device", oauth.LoginLAN
		})
		if n := f.e.Scheduled(); n != 0 {
			t.Errorf("%d jobs planned after the mode changed, want 0: the device login's polls stop", n)
		}
		advance(time.Hour)
		if polls, _ := script.snapshot(); len(polls) != 1 {
			t.Errorf("%d polls, want 1: none after the mode changed", len(polls))
		}
		if ev := f.ev.snapshot(); len(ev.issued) != 0 || len(ev.failed) != 0 {
			t.Errorf("events = %+v, want none", ev)
		}
		if _, err := f.db.Flow(fl.ID); !oauth.IsNotFound(err) {
			t.Errorf("the device login is still stored: %v", err)
		}
		st, err := f.e.Status(context.Background(), "skill.test")
		if err != nil || len(st) != 1 || st[0].Flow != "" || st[0].Login != oauth.LoginLAN {
			t.Errorf("Status() = %+v, %v; want login lan and no pending login", st, err)
		}
	})
}

// TestStatusShowsOnlyLoginsThatCanFinish: a pending login started under a
// registration whose endpoints have moved since cannot finish, so status
// does not show it as pending.
func TestStatusShowsOnlyLoginsThatCanFinish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	f.start(t, "app")
	if st, err := f.e.Status(context.Background(), "skill.test"); err != nil || len(st) != 1 || st[0].Flow != oauth.FlowCode {
		t.Fatalf("Status() = %+v, %v; want the login pending", st, err)
	}
	f.register(t, "app", func(r *oauth.Registration) { r.TokenEndpoint = f.te.URL + "/other-token" })
	if st, err := f.e.Status(context.Background(), "skill.test"); err != nil || len(st) != 1 || st[0].Flow != "" {
		t.Errorf("Status() after the token endpoint moved = %+v, %v; want no pending login", st, err)
	}
}

// TestLoginModeChangeDuringDevicePoll: when the app is registered for
// another mode while a poll of its device login is on its way, the token
// that poll brings back is not kept and nothing is reported: the login was
// ended, as one a newer login replaces.
func TestLoginModeChangeDuringDevicePoll(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var f *syncFixture
		script := &deviceScript{authorize: deviceAnswer}
		script.answers = []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
			// The handler runs while the poll waits for its answer.
			script.mu.Unlock()
			defer script.mu.Lock()
			f.register(t, "tv", func(r *oauth.Registration) {
				r.DeviceEndpoint, r.Login = "http://provider.test/device", oauth.LoginLAN
			})
			deviceToken(w, r)
		}}
		f = newDeviceFixture(t, script)
		f.start(t)
		defer f.stop(t)
		if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
			t.Fatal(err)
		}
		advance(time.Hour)
		if polls, _ := script.snapshot(); len(polls) != 1 {
			t.Errorf("%d polls, want 1", len(polls))
		}
		if ev := f.ev.snapshot(); len(ev.issued) != 0 || len(ev.failed) != 0 {
			t.Errorf("events = %+v, want none", ev)
		}
		if _, err := f.db.Token("skill.test_tv"); !oauth.IsNotFound(err) {
			t.Errorf("the token of the ended login was kept: %v", err)
		}
	})
}
