package oauth_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

func TestRevokeRefreshTokenFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rev := newRevocationEndpoint(t)
	f.register(t, "app", func(r *oauth.Registration) { r.RevocationEndpoint = rev.URL })
	_, q := f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	revoked, err := f.e.Revoke(context.Background(), "skill.test", "app")
	if err != nil || !revoked.Revoked {
		t.Fatalf("Revoke() = %+v, %v", revoked, err)
	}
	if hints := rev.requests(); len(hints) != 2 || hints[0] != "refresh_token=RT-1" || hints[1] != "access_token=AT-1" {
		t.Errorf("revocation requests = %v, want the refresh token, then the access token", hints)
	}
	if _, err := f.db.Token("skill.test_app"); !oauth.IsNotFound(err) {
		t.Errorf("token kept after revoke: %v", err)
	}
}

func TestTokenEndpointChangeDropsToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.register(t, "app", func(r *oauth.Registration) { r.TokenEndpoint = f.te.URL + "/v2/token" })
	if _, err := f.db.Token("skill.test_app"); !oauth.IsNotFound(err) {
		t.Fatalf("token kept across a token endpoint change: %v", err)
	}
}

func TestLoginRefusedAfterClientChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	f.register(t, "app", func(r *oauth.Registration) { r.ClientID = "another" })
	_, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if oauth.ErrorCode(err) != oauth.CodeInvalidState || f.te.count() != 0 {
		t.Fatalf("Complete() after a client change = %v with %d token requests; want invalid_state and none", err, f.te.count())
	}
}

// TestExchangeOutlivesThePhone: the phone gives up while the provider is
// slow; the exchange still finishes and the token is stored.
func TestExchangeOutlivesThePhone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	arrived, release := f.te.hold(`{"access_token":"AT-slow","token_type":"Bearer","expires_in":3600}`)
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.e.Complete(ctx, "skill.test_app", url.Values{"state": {q.Get("state")}, "code": {"C"}}, "")
		done <- err
	}()
	<-arrived
	cancel() // the phone closed the page
	release()
	if err := <-done; err != nil {
		t.Fatalf("Complete() = %v", err)
	}
	if tok, err := f.db.Token("skill.test_app"); err != nil || tok.AccessToken != "AT-slow" {
		t.Fatalf("stored token = %v, %v", tok, err)
	}
}

func TestFlowsPerApp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.FlowsPerApp = 2
	f.register(t, "app", nil)
	var states []string
	for range 3 {
		_, q := f.start(t, "app")
		f.clk.Add(time.Second)
		states = append(states, q.Get("state"))
	}
	if _, err := f.complete("app", url.Values{"state": {states[0]}, "code": {"C"}}); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("oldest of 3 logins with 2 kept: %v, want invalid_state", err)
	}
	if _, err := f.complete("app", url.Values{"state": {states[2]}, "code": {"C"}}); err != nil {
		t.Errorf("newest login: %v", err)
	}
}

func TestMungedIDAliases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "b_c", func(r *oauth.Registration) { r.SkillID = "a" })
	ctx := context.Background()
	if _, err := f.e.App("a_b", "c"); oauth.ErrorCode(err) != oauth.CodeUnknownApp {
		t.Errorf("App(a_b, c) = %v, want unknown_app", err)
	}
	if _, err := f.e.SetCredentials(ctx, "a_b", "c", "x", "y"); oauth.ErrorCode(err) != oauth.CodeUnknownApp {
		t.Errorf("SetCredentials via the alias = %v, want unknown_app", err)
	}
	if removed, _ := f.e.Unregister(ctx, "a_b", "c"); removed {
		t.Errorf("Unregister via the alias removed another skill's app")
	}
	if _, err := f.e.App("a", "b_c"); err != nil {
		t.Errorf("the owner lost its app: %v", err)
	}
}

func TestTokenKeepsValidTokenThroughFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.clk.Add(time.Hour - 30*time.Second) // due, still valid
	f.te.set(jsonAnswer(503, `{"error":"temporarily_unavailable"}`))
	_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
	if err != nil || tok.AccessToken != "AT-1" {
		t.Fatalf("Token() during a 503 = %v, %v; want the still-valid AT-1", tok, err)
	}
	f.clk.Add(time.Minute) // expired now
	if _, _, err := f.e.Token(context.Background(), "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeProviderUnavailable {
		t.Fatalf("Token() of an expired token during a 503 = %v, want provider_unavailable", err)
	}
}

// TestTokenAnswersWithinTokenWait: a provider that hangs does not hold a
// skill past its timeout while the token in hand works; the refresh goes
// on and its result is stored.
func TestTokenAnswersWithinTokenWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.login(t, "app", `{"access_token":"A","token_type":"Bearer","expires_in":3600,"refresh_token":"R"}`)
		time.Sleep(time.Hour - 30*time.Second)
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Second) // a slow provider
			jsonAnswer(200, `{"access_token":"B","token_type":"Bearer","expires_in":3600}`)(w, r)
		})
		start := time.Now()
		_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
		if err != nil || tok.AccessToken != "A" {
			t.Fatalf("Token() = %v, %v; want the token in hand", tok, err)
		}
		if waited := time.Since(start); waited > 3*time.Second {
			t.Errorf("Token() took %v, want at most TokenWait", waited)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if stored, _ := f.db.Token("skill.test_app"); stored.AccessToken != "B" {
			t.Errorf("the refresh did not finish in the background")
		}
	})
}

// failingStore is the real store with PutToken failing on demand: a full
// SD card.
type failingStore struct {
	oauth.Store
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) setFail(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

func (s *failingStore) PutToken(id string, tok *oauth.Token) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("no space left on device")
	}
	return s.Store.PutToken(id, tok)
}

func TestRotatedTokenKeptWhenSaveFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fs, e := f.withFailingStore()
	f.loggedIn(t, "app")
	fs.setFail(true)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	if _, _, err := e.Refresh(context.Background(), "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeInternal {
		t.Fatalf("Refresh() with a failing store = %v, want internal_error", err)
	}
	// Not saved, so not handed out.
	if _, tok, _ := e.Token(context.Background(), "skill.test", "app"); tok != nil && tok.AccessToken == "AT-2" {
		t.Errorf("Token() handed out an access token that is not saved")
	}
	fs.setFail(false)
	requests := f.te.count()
	if _, tok, err := e.Refresh(context.Background(), "skill.test", "app"); err != nil || tok.AccessToken != "AT-2" {
		t.Fatalf("Refresh() once the disk is back = %v, %v; want the unsaved AT-2 saved", tok, err)
	}
	if f.te.count() != requests {
		t.Errorf("the provider was asked again before the unsaved token was saved")
	}
	if tok, _ := f.db.Token("skill.test_app"); tok.RefreshToken != "RT-2" {
		t.Errorf("stored refresh token = %v, want RT-2", tok.RefreshToken.Reveal())
	}
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-3"}`))
	if _, _, err := e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if got := f.te.last(t).form.Get("refresh_token"); got != "RT-2" {
		t.Errorf("next refresh sent %q, want RT-2", got)
	}
}

// TestRevokeAfterUnsavedRotation: the live refresh token is the one that
// could not be saved; that is the one revoked.
func TestRevokeAfterUnsavedRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rev := newRevocationEndpoint(t)
	fs, e := f.withFailingStore()
	f.register(t, "app", func(r *oauth.Registration) { r.RevocationEndpoint = rev.URL })
	_, q := f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	fs.setFail(true)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	e.Refresh(context.Background(), "skill.test", "app")
	fs.setFail(false)
	if r, err := e.Revoke(context.Background(), "skill.test", "app"); err != nil || !r.Revoked {
		t.Fatalf("Revoke() = %+v, %v", r, err)
	}
	if revoked := rev.requests(); len(revoked) == 0 || revoked[0] != "refresh_token=RT-2" {
		t.Errorf("revoked %v, want the live RT-2 first", revoked)
	}
}

// mirrorWith is a Mirror whose file holds a given refresh token, as after
// ovos_utils refreshed on its own.
type mirrorWith struct {
	rt  oauth.Secret
	exp time.Time
}

func (m mirrorWith) PutApp(*oauth.App, string) error         { return nil }
func (m mirrorWith) PutToken(*oauth.App, *oauth.Token) error { return nil }
func (m mirrorWith) TokenWritten(string) <-chan struct{}     { return nil }
func (m mirrorWith) DeleteToken(string) error                { return nil }
func (m mirrorWith) DeleteApp(string) error                  { return nil }
func (m mirrorWith) Token(string) (*oauth.Token, error) {
	return &oauth.Token{AccessToken: "AT-python", RefreshToken: m.rt, Expiry: m.exp}, nil
}

func TestRefreshAdoptsMirroredRefreshToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.e.Mirror = mirrorWith{rt: "RT-python", exp: f.clk.Now().Add(2 * time.Hour)}
	f.te.set(func(w http.ResponseWriter, r *http.Request) {
		if r.PostForm.Get("refresh_token") != "RT-python" {
			jsonAnswer(400, `{"error":"invalid_grant"}`)(w, r)
			return
		}
		jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`)(w, r)
	})
	_, tok, err := f.e.Refresh(context.Background(), "skill.test", "app")
	if err != nil || tok.RefreshToken != "RT-2" {
		t.Fatalf("Refresh() = %v, %v; want the mirror's refresh token adopted", tok, err)
	}
	if len(f.ev.snapshot().reauth) != 0 {
		t.Errorf("reauth required though the mirror's token worked")
	}
}

// TestRepeatDuringExchange: ovos-shell's browser loads the callback and
// forwards the same answer at once. The second copy arrives while the first
// is being exchanged: it is refused without a failure event, and the skill
// hears only of the token.
func TestRepeatDuringExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	arrived, release := f.te.hold(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`)
	defer release()
	answer := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	first := make(chan error, 1)
	go func() { _, err := f.complete("app", answer); first <- err }()
	<-arrived
	if _, err := f.complete("app", answer); oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered {
		t.Errorf("second copy during the exchange = %v, want already_answered", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("first copy: %v", err)
	}
	if ev := f.ev.snapshot(); len(ev.issued) != 1 || len(ev.failed) != 0 {
		t.Errorf("events = %+v, want one TokenIssued and no LoginFailed", ev)
	}
}

// TestRunWaitsForExchange: a daemon told to stop while a login is being
// exchanged stores its token before Run returns (and the store is closed).
func TestRunWaitsForExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	arrived, release := f.te.hold(`{"access_token":"AT-1","token_type":"Bearer","expires_in":3600}`)
	defer release() // a failing test must not leave the provider hanging
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- f.e.Run(ctx) }()
	loginDone := make(chan error, 1)
	go func() {
		_, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
		loginDone <- err
	}()
	<-arrived
	cancel()
	select {
	case <-runDone:
		t.Fatal("Run returned while a login was being exchanged")
	case <-time.After(50 * time.Millisecond): // Run had its chance to (wrongly) return
	}
	release()
	if err := <-loginDone; err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if _, err := f.db.Token("skill.test_app"); err != nil {
		t.Errorf("token not stored before Run returned: %v", err)
	}
}

// hold makes the endpoint answer body only once release is called, and
// tells when the request has arrived. release may be called more than once;
// the test's end calls it, so a failing test leaves no handler hanging.
func (te *tokenEndpoint) hold(body string) (arrived <-chan struct{}, release func()) {
	in, out := make(chan struct{}), make(chan struct{})
	var once, arrivedOnce sync.Once
	te.set(func(w http.ResponseWriter, r *http.Request) {
		arrivedOnce.Do(func() { close(in) })
		<-out
		jsonAnswer(200, body)(w, r)
	})
	return in, func() { once.Do(func() { close(out) }) }
}

// revocationEndpoint records the RFC 7009 requests it receives, as
// "token_type_hint=token".
type revocationEndpoint struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRevocationEndpoint(t *testing.T) *revocationEndpoint {
	rev := &revocationEndpoint{}
	rev.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		rev.mu.Lock()
		rev.seen = append(rev.seen, r.PostForm.Get("token_type_hint")+"="+r.PostForm.Get("token"))
		rev.mu.Unlock()
	}))
	t.Cleanup(rev.Close)
	return rev
}

func (rev *revocationEndpoint) requests() []string {
	rev.mu.Lock()
	defer rev.mu.Unlock()
	return append([]string(nil), rev.seen...)
}

// withFailingStore puts a store whose PutToken can be made to fail under
// the fixture's engine.
func (f *fixture) withFailingStore() (*failingStore, *oauth.Engine) {
	fs := &failingStore{Store: f.db}
	e := oauth.NewEngine(fs, f.ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	e.Now = f.clk.Now
	f.e = e
	return fs, e
}
