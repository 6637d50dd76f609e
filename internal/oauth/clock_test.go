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

// jumpClock is a wall clock that can jump, as a Raspberry Pi's does when
// NTP answers after a boot with the time it saved last: the bubble's time,
// which goes on passing as it did, plus an offset.
type jumpClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// newJumpFixture is a synctest engine whose wall clock jumps, its time
// passing measured by the bubble's clock.
func newJumpFixture(t *testing.T) (*syncFixture, *jumpClock) {
	f := newSyncFixture(t)
	c := &jumpClock{}
	f.e.Now, f.e.Monotonic = c.Now, time.Now
	return f, c
}

// jumps are the jumps each test makes: NTP setting right a clock that
// booted three days behind, and one three days ahead.
var jumps = []struct {
	name string
	by   time.Duration
}{{"forward", 3 * 24 * time.Hour}, {"back", -3 * 24 * time.Hour}}

// TestClockJumpDuringPendingLogin: a jump of the clock during a pending
// login neither ends it early (the answer is taken, the sweep leaves it)
// nor makes it last longer than it should: it ends flow_ttl after it began,
// in the time that passed, and the sweep deletes it then.
func TestClockJumpDuringPendingLogin(t *testing.T) {
	t.Parallel()
	for _, jump := range jumps {
		t.Run(jump.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, clock := newJumpFixture(t)
				f.e.FlowTTL = 20 * time.Minute
				f.register(t, "app", nil)
				f.start(t)
				defer f.stop(t)
				advance(time.Minute)
				answered, _, err := f.e.StartFlow(context.Background(), "skill.test", "app")
				if err != nil {
					t.Fatal(err)
				}
				left, _, err := f.e.StartFlow(context.Background(), "skill.test", "app")
				if err != nil {
					t.Fatal(err)
				}
				advance(2 * time.Minute)
				clock.jump(jump.by)
				// Past a sweep, a minute before the logins end.
				advance(17 * time.Minute)
				if _, err := f.e.PendingFlow(context.Background(), left.ID); err != nil {
					t.Errorf("PendingFlow() a minute before the login ends = %v, want it pending", err)
				}
				if _, err := f.e.Complete(context.Background(), "skill.test_app", url.Values{"state": {answered.State.Reveal()}, "code": {"C"}}, ""); err != nil {
					t.Errorf("the answer a minute before the login ends = %v, want the login completed", err)
				}
				advance(2 * time.Minute)
				if _, err := f.e.PendingFlow(context.Background(), left.ID); oauth.ErrorCode(err) != oauth.CodeExpiredState && oauth.ErrorCode(err) != oauth.CodeInvalidState {
					t.Errorf("PendingFlow() a minute after the login ended = %v, want it ended", err)
				}
				advance(20 * time.Minute)
				if _, err := f.db.Flow(left.ID); !oauth.IsNotFound(err) {
					t.Errorf("the login that ended is still stored after the next sweep (%v): its verifier is kept", err)
				}
			})
		})
	}
}

// TestClockJumpDuringDevicePoll: a jump during a device login neither ends
// it (the code has not expired in the time that passed) nor stops its polls
// for longer than a minute; the user's code entered after the jump logs in.
func TestClockJumpDuringDevicePoll(t *testing.T) {
	t.Parallel()
	for _, jump := range jumps {
		t.Run(jump.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pending := oauthError("authorization_pending")
				script := &deviceScript{authorize: deviceAnswer, answers: []func(http.ResponseWriter, *http.Request){
					pending, pending, pending, pending, pending, deviceToken,
				}}
				f := newDeviceFixture(t, script)
				clock := &jumpClock{}
				f.e.Now, f.e.Monotonic = clock.Now, time.Now
				f.start(t)
				defer f.stop(t)
				t0 := time.Now()
				if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
					t.Fatal(err)
				}
				advance(12 * time.Second) // polled twice
				clock.jump(jump.by)
				advance(2 * time.Minute)
				ev := f.ev.snapshot()
				if len(ev.issued) != 1 || len(ev.failed) != 0 {
					t.Fatalf("two minutes after the jump: logins %v, failures %v; want the login completed", ev.issued, ev.failed)
				}
				_, at := script.snapshot()
				prev := t0
				for _, a := range at {
					if gap := a.Sub(prev); gap > 5*time.Second+time.Minute {
						t.Errorf("polls %v apart (at %v s), want at most the interval and a minute", gap, sinceStart(t0, at))
					}
					prev = a
				}
			})
		})
	}
}

// TestClockJumpDuringPlannedRefresh: a jump while a refresh is planned
// does not move the refresh by more than a minute from when it is due in
// the time that passed, and a token is taken for valid while it is, and
// for expired once it is, whatever the clock says; also by the next run.
func TestClockJumpDuringPlannedRefresh(t *testing.T) {
	t.Parallel()
	for _, jump := range jumps {
		t.Run(jump.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, clock := newJumpFixture(t)
				f.loginAs(t, "app", nil, `{"access_token":"A1","token_type":"Bearer","expires_in":3600,"refresh_token":"R1"}`)
				f.loginAs(t, "once", nil, `{"access_token":"ONCE","token_type":"Bearer","expires_in":3600}`)
				f.start(t)
				defer func() { f.stop(t) }()
				f.te.set(jsonAnswer(200, `{"access_token":"A2","token_type":"Bearer","expires_in":3600}`))
				t0 := time.Now()
				advance(30 * time.Minute)
				clock.jump(jump.by)
				advance(time.Minute)
				if n := f.te.count(); n != 2 {
					t.Errorf("%d token requests a minute after the jump, want 2 (the logins): no refresh half an hour early", n)
				}
				for app, want := range map[string]string{"app": "A1", "once": "ONCE"} {
					if _, tok, err := f.e.Token(context.Background(), "skill.test", app); err != nil || tok.AccessToken.Reveal() != want {
						t.Errorf("Token(%s) a minute after the jump = %v, %v; want %s, valid for another half hour", app, tok, err, want)
					}
				}
				// The next run reads the token as valid too.
				f.restart(t)
				if _, tok, err := f.e.Token(context.Background(), "skill.test", "once"); err != nil || tok.AccessToken.Reveal() != "ONCE" {
					t.Errorf("Token(once) after a restart = %v, %v; want ONCE", tok, err)
				}

				// Due 60 s before its expiry, at 59 minutes.
				advance(time.Until(t0.Add(59*time.Minute)) - time.Second)
				if n := f.te.count(); n != 2 {
					t.Errorf("%d token requests before the refresh is due, want 2", n)
				}
				advance(time.Minute + time.Second)
				if n := f.te.count(); n != 3 {
					t.Errorf("%d token requests a minute after the refresh was due, want 3", n)
				}
				advance(2 * time.Minute) // 62 minutes: the token without refresh expired
				if _, tok, err := f.e.Token(context.Background(), "skill.test", "once"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
					t.Errorf("Token(once) after it expired = %v, %v; want reauth_required", tok, err)
				}
			})
		})
	}
}
