package oauth_test

import (
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// restarted is the engine of the next run of the daemon on the fixture's
// store, with its own event log, its schedule loaded as Run loads it.
func (f *fixture) restarted(t *testing.T) (*oauth.Engine, *events) {
	t.Helper()
	ev := &events{}
	e := oauth.NewEngine(f.db, ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	e.Now = f.clk.Now
	if err := e.LoadSchedule(); err != nil {
		t.Fatalf("LoadSchedule() = %v", err)
	}
	return e, ev
}

// TestInterruptedLoginReported: a run that dies while the token endpoint
// holds a login's code exchange leaves the login marked; the next run
// reports it to the skill once (interrupted), answers the phone's retry of
// the answer and of the short link with interrupted, never sends the code
// again, and forgets the login after FlowTTL.
func TestInterruptedLoginReported(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, q := f.start(t, "app")
	arrived, release := f.te.hold(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`)
	answer := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	dying := make(chan struct{})
	go func() {
		defer close(dying)
		f.complete("app", answer)
	}()
	<-arrived
	// The dying run's exchange ends after the test's checks, before its
	// store closes.
	defer func() {
		release()
		<-dying
	}()

	next, ev := f.restarted(t)
	if got := ev.snapshot().failed; len(got) != 1 || got[0] != oauth.CodeInterrupted {
		t.Fatalf("LoginFailed codes after the restart = %v, want [%s]", got, oauth.CodeInterrupted)
	}
	if _, err := next.Complete(context.Background(), "skill.test_app", answer, ""); oauth.ErrorCode(err) != oauth.CodeInterrupted {
		t.Errorf("the phone's retry of the answer = %v, want %s", err, oauth.CodeInterrupted)
	}
	if _, err := next.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeInterrupted {
		t.Errorf("the phone's retry of the short link = %v, want %s", err, oauth.CodeInterrupted)
	}
	if n := f.te.count(); n != 1 {
		t.Errorf("%d code exchanges, want 1: a spent state is never exchanged again", n)
	}
	if got := ev.snapshot().failed; len(got) != 1 {
		t.Errorf("LoginFailed codes after the retries = %v, want the one report of the restart", got)
	}
	status, err := next.Status(context.Background(), "skill.test")
	if err != nil || len(status) != 1 || status[0].Flow != "" {
		t.Errorf("Status() = %+v, %v; want no pending login for the app", status, err)
	}

	if _, ev := f.restarted(t); len(ev.snapshot().failed) != 0 {
		t.Errorf("another restart reported the interrupted login again: %v", ev.snapshot().failed)
	}

	f.clk.Add(next.FlowTTL + time.Second)
	if _, err := f.db.DeleteExpiredFlows(f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Complete(context.Background(), "skill.test_app", answer, ""); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("the retry of the answer after FlowTTL = %v, want %s: the record is time-limited", err, oauth.CodeInvalidState)
	}
}

// TestExchangingLoginNotInterrupted: while this run exchanges a login's
// code, a restart-time check does not count it as interrupted, the
// phone's second copy of the answer hears it is being finished, and the
// token's write ends the login.
func TestExchangingLoginNotInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, q := f.start(t, "app")
	arrived, release := f.te.hold(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`)
	defer release()
	answer := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	first := make(chan error, 1)
	go func() { _, err := f.complete("app", answer); first <- err }()
	<-arrived

	if err := f.e.LoadSchedule(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered {
		t.Errorf("the short link during the exchange = %v, want %s", err, oauth.CodeAlreadyAnswered)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("login: %v", err)
	}
	if ev := f.ev.snapshot(); len(ev.issued) != 1 || len(ev.failed) != 0 {
		t.Errorf("events = %+v, want one TokenIssued and no LoginFailed", ev)
	}
	if flows, err := f.db.FlowsOf("skill.test_app"); err != nil || len(flows) != 0 {
		t.Errorf("FlowsOf() after the login = %d flows, %v; want none", len(flows), err)
	}
	if _, ev := f.restarted(t); len(ev.snapshot().failed) != 0 {
		t.Errorf("a restart after the login reported %v", ev.snapshot().failed)
	}
}

// TestFailedExchangeNotInterrupted: a login whose exchange the provider
// refused was reported then; it leaves nothing for a restart to report.
func TestFailedExchangeNotInterrupted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); oauth.ErrorCode(err) != oauth.CodeExchangeFailed {
		t.Fatalf("login = %v, want %s", err, oauth.CodeExchangeFailed)
	}
	if flows, err := f.db.FlowsOf("skill.test_app"); err != nil || len(flows) != 0 {
		t.Errorf("FlowsOf() after the failed login = %d flows, %v; want none", len(flows), err)
	}
	if _, ev := f.restarted(t); len(ev.snapshot().failed) != 0 {
		t.Errorf("a restart after the failed login reported %v", ev.snapshot().failed)
	}
}
