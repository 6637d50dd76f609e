package oauth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// events records what the engine reports.
type events struct {
	mu sync.Mutex
	eventLog
}

type eventLog struct {
	issued  []string
	refresh []string
	failed  []string // codes
	reauth  []string
	// upcoming: "<munged id> <login end, RFC 3339> <reason>"
	upcoming []string
}

func (e *events) TokenIssued(a *oauth.App, _ *oauth.Token) {
	e.mu.Lock()
	e.issued = append(e.issued, a.MungedID())
	e.mu.Unlock()
}
func (e *events) TokenRefreshed(a *oauth.App, _ *oauth.Token) {
	e.mu.Lock()
	e.refresh = append(e.refresh, a.MungedID())
	e.mu.Unlock()
}
func (e *events) LoginFailed(_ *oauth.App, err *oauth.Error) {
	e.mu.Lock()
	e.failed = append(e.failed, err.Code)
	e.mu.Unlock()
}
func (e *events) ReauthRequired(a *oauth.App, reason string) {
	e.mu.Lock()
	e.reauth = append(e.reauth, reason)
	e.mu.Unlock()
}

func (e *events) ReauthUpcoming(a *oauth.App, ends time.Time, reason string) {
	e.mu.Lock()
	e.upcoming = append(e.upcoming, a.MungedID()+" "+ends.UTC().Format(time.RFC3339)+" "+reason)
	e.mu.Unlock()
}

func (e *events) snapshot() eventLog {
	e.mu.Lock()
	defer e.mu.Unlock()
	return eventLog{issued: append([]string(nil), e.issued...), refresh: append([]string(nil), e.refresh...), failed: append([]string(nil), e.failed...), reauth: append([]string(nil), e.reauth...),
		upcoming: append([]string(nil), e.upcoming...)}
}

// tokenEndpoint is a fake provider token endpoint for fault injection: each
// request is recorded and answered by the current behaviour.
type tokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	answer   func(w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	form      url.Values
	basicUser string
	basicPass string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := newTokenHandler()
	te.Server = httptest.NewServer(te)
	t.Cleanup(te.Close)
	return te
}

// newTokenHandler is a token endpoint without a server, for tests in a
// synctest bubble (which cannot wait on real sockets): see oauthtest.InProcess.
func newTokenHandler() *tokenEndpoint {
	te := &tokenEndpoint{}
	te.answer = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"AT-1","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-1","scope":"read","x_extra":"kept"}`)
	}
	return te
}

func (te *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	u, p, _ := r.BasicAuth()
	te.mu.Lock()
	te.requests = append(te.requests, recorded{form: r.PostForm, basicUser: u, basicPass: p})
	answer := te.answer
	te.mu.Unlock()
	answer(w, r)
}

func (te *tokenEndpoint) set(answer func(w http.ResponseWriter, r *http.Request)) {
	te.mu.Lock()
	te.answer = answer
	te.mu.Unlock()
}

func (te *tokenEndpoint) last(t *testing.T) recorded {
	t.Helper()
	te.mu.Lock()
	defer te.mu.Unlock()
	if len(te.requests) == 0 {
		t.Fatal("no request reached the token endpoint")
	}
	return te.requests[len(te.requests)-1]
}

func (te *tokenEndpoint) count() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return len(te.requests)
}

func jsonAnswer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

type fixture struct {
	e   *oauth.Engine
	db  *store.DB
	clk *clock
	ev  *events
	te  *tokenEndpoint
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.Open(t)
	f := &fixture{db: db, clk: &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}, ev: &events{}, te: newTokenEndpoint(t)}
	f.e = oauth.NewEngine(db, f.ev, "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	f.e.Now = f.clk.Now
	return f
}

func (f *fixture) register(t *testing.T, appID string, mod func(*oauth.Registration)) *oauth.App {
	t.Helper()
	r := oauth.Registration{
		SkillID: "skill.test", AppID: appID, ClientID: "cid", ClientSecret: "csecret",
		AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: f.te.URL + "/token",
		Scope: "read write", ShellIntegration: true, PKCE: true,
	}
	if mod != nil {
		mod(&r)
	}
	res, err := f.e.Register(context.Background(), r)
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	return res.App
}

// start opens a login and returns its state.
func (f *fixture) start(t *testing.T, appID string) (*oauth.Flow, url.Values) {
	t.Helper()
	fl, _, err := f.e.StartFlow(context.Background(), "skill.test", appID)
	if err != nil {
		t.Fatalf("StartFlow() = %v", err)
	}
	u, err := url.Parse(fl.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	return fl, u.Query()
}

func (f *fixture) complete(appID string, q url.Values) (*oauth.Token, error) {
	if _, err := f.e.Complete(context.Background(), "skill.test_"+appID, q, ""); err != nil {
		return nil, err
	}
	return f.db.Token("skill.test_" + appID)
}

func TestAuthorizationURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", func(r *oauth.Registration) {
		r.AuthParams = map[string]string{"access_type": "offline", "prompt": "consent"}
	})
	fl, q := f.start(t, "app")
	want := map[string]string{
		"response_type": "code", "client_id": "cid", "scope": "read write",
		"redirect_uri":          "http://192.0.2.10:36536/auth/callback/skill.test_app",
		"code_challenge_method": "S256", "access_type": "offline", "prompt": "consent",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Get("state") != fl.State.Reveal() || q.Get("client_secret") != "" || strings.Contains(fl.AuthURL, "csecret") {
		t.Errorf("state or secret wrong in %s", fl.AuthURL)
	}
	_, q2 := f.start(t, "app")
	if q2.Get("state") == q.Get("state") || q2.Get("code_challenge") == q.Get("code_challenge") {
		t.Errorf("two logins share a state or a challenge")
	}
	if got := f.e.StartLink(fl); got != "http://192.0.2.10:36536/auth/start/"+fl.ID {
		t.Errorf("StartLink() = %q", got)
	}
}

func TestPKCEOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", func(r *oauth.Registration) { r.PKCE = false })
	_, q := f.start(t, "app")
	if q.Has("code_challenge") {
		t.Errorf("code_challenge sent with pkce false")
	}
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	if f.te.last(t).form.Has("code_verifier") {
		t.Errorf("code_verifier sent with pkce false")
	}
}

func TestTokenRequestClientAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		secret    oauth.Secret
		tokenAuth string
		basic     bool
		bodyID    bool
		bodySec   bool
	}{
		{"secret, auto: basic", "csecret", "", true, false, false},
		{"secret, post", "csecret", oauth.TokenAuthPost, false, true, true},
		{"secret, basic", "csecret", oauth.TokenAuthBasic, true, false, false},
		{"no secret: client_id in body", "", "", false, true, false},
		{"none: no secret sent", "csecret", oauth.TokenAuthNone, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.register(t, "app", func(r *oauth.Registration) { r.ClientSecret, r.TokenAuth = tt.secret, tt.tokenAuth })
			fl, q := f.start(t, "app")
			if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"THE-CODE"}}); err != nil {
				t.Fatalf("complete: %v", err)
			}
			req := f.te.last(t)
			if (req.basicUser == "cid" && req.basicPass == "csecret") != tt.basic {
				t.Errorf("basic auth = %q:%q, want basic %v", req.basicUser, req.basicPass, tt.basic)
			}
			if (req.form.Get("client_id") == "cid") != tt.bodyID || (req.form.Get("client_secret") == "csecret") != tt.bodySec {
				t.Errorf("body client_id %q client_secret %q", req.form.Get("client_id"), req.form.Get("client_secret"))
			}
			if req.form.Get("grant_type") != "authorization_code" || req.form.Get("code") != "THE-CODE" ||
				req.form.Get("redirect_uri") != fl.RedirectURI || req.form.Get("code_verifier") != fl.Verifier.Reveal() {
				t.Errorf("token request = %v, want the code, the flow's redirect_uri and verifier", req.form)
			}
			if f.te.count() != 1 {
				t.Errorf("%d token requests, want 1", f.te.count())
			}
		})
	}
}

func TestCompleteKeepsWholeTokenResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	tok, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "AT-1" || tok.RefreshToken != "RT-1" || tok.Scope != "read" || !tok.Expiry.Equal(f.clk.Now().Add(time.Hour)) {
		t.Errorf("token = %+v", tok)
	}
	if tok.Raw["x_extra"] != "kept" {
		t.Errorf("token's raw fields = %v, want the provider's x_extra kept", tok.Raw)
	}
	stored, err := f.db.Token("skill.test_app")
	if err != nil || stored.RefreshToken != "RT-1" {
		t.Fatalf("stored token = %v, %v", stored, err)
	}
	if _, dup := stored.Raw["refresh_token"]; dup {
		t.Errorf("the refresh token is stored twice")
	}
	if got := f.ev.snapshot().issued; len(got) != 1 {
		t.Errorf("TokenIssued events = %v, want 1", got)
	}
}

func TestCompleteRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query func(f *fixture, state string) url.Values
		app   string
		code  string
		// kept: the answer carries no live state of the app, so the
		// pending login is left as it was and nobody is told.
		kept bool
	}{
		{"expired state", func(f *fixture, state string) url.Values {
			f.clk.Add(10*time.Minute + time.Second)
			return url.Values{"state": {state}, "code": {"C"}}
		}, "app", oauth.CodeExpiredState, false},
		{"forged state", func(f *fixture, state string) url.Values {
			return url.Values{"state": {"forged"}, "code": {"C"}}
		}, "app", oauth.CodeInvalidState, true},
		{"no state", func(f *fixture, state string) url.Values {
			return url.Values{"code": {"C"}}
		}, "app", oauth.CodeInvalidRequest, true},
		{"error without state", func(f *fixture, state string) url.Values {
			return url.Values{"error": {"access_denied"}}
		}, "app", oauth.CodeInvalidRequest, true},
		{"no code", func(f *fixture, state string) url.Values {
			return url.Values{"state": {state}}
		}, "app", oauth.CodeInvalidRequest, false},
		{"cross-app state", func(f *fixture, state string) url.Values {
			return url.Values{"state": {state}, "code": {"C"}}
		}, "other", oauth.CodeInvalidState, true},
		{"denied", func(f *fixture, state string) url.Values {
			return url.Values{"state": {state}, "error": {"access_denied"}}
		}, "app", oauth.CodeAccessDenied, false},
		{"provider refuses the code", func(f *fixture, state string) url.Values {
			f.te.set(jsonAnswer(400, `{"error":"invalid_grant","error_description":"code THE-CODE is bad"}`))
			return url.Values{"state": {state}, "code": {"C"}}
		}, "app", oauth.CodeExchangeFailed, false},
		{"token endpoint 500", func(f *fixture, state string) url.Values {
			f.te.set(jsonAnswer(500, `oops`))
			return url.Values{"state": {state}, "code": {"C"}}
		}, "app", oauth.CodeProviderUnavailable, false},
		{"token endpoint garbage", func(f *fixture, state string) url.Values {
			f.te.set(jsonAnswer(200, `{not json`))
			return url.Values{"state": {state}, "code": {"C"}}
		}, "app", oauth.CodeProviderUnavailable, false},
		{"token endpoint without access_token", func(f *fixture, state string) url.Values {
			f.te.set(jsonAnswer(200, `{"token_type":"Bearer"}`))
			return url.Values{"state": {state}, "code": {"C"}}
		}, "app", oauth.CodeProviderUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.register(t, "app", nil)
			f.register(t, "other", nil)
			_, q := f.start(t, "app")
			tok, err := f.complete(tt.app, tt.query(f, q.Get("state")))
			if oauth.ErrorCode(err) != tt.code || tok != nil {
				t.Fatalf("Complete() = %v, %v; want code %s", tok, err, tt.code)
			}
			if _, err := f.db.Token("skill.test_" + tt.app); !oauth.IsNotFound(err) {
				t.Errorf("a token was stored: %v", err)
			}
			if desc := oauth.ErrorDescription(err); strings.Contains(desc, "THE-CODE") || strings.Contains(err.Error(), "THE-CODE") {
				t.Errorf("the provider's text reached the error: %q", err)
			}
			if tt.kept {
				if got := f.ev.snapshot(); len(got.issued) != 0 || len(got.failed) != 0 {
					t.Errorf("events = %+v, want none for an answer that ends no login", got)
				}
				f.te.set(jsonAnswer(200, `{"access_token":"AT-1","token_type":"Bearer"}`))
				if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
					t.Errorf("the real answer after it: Complete() = %v, want the login to complete", err)
				}
				return
			}
			if got := f.ev.snapshot(); len(got.issued) != 0 || len(got.failed) != 1 || got.failed[0] != tt.code {
				t.Errorf("events = %+v, want one LoginFailed %s", got, tt.code)
			}
			if desc := oauth.ErrorDescription(err); strings.Contains(desc, "THE-CODE") || strings.Contains(err.Error(), "THE-CODE") {
				t.Errorf("the provider's text reached the error: %q", err)
			}
		})
	}
}

func TestCompleteStateIsSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	q2 := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	if _, err := f.complete("app", q2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.complete("app", q2); oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered {
		t.Fatalf("second use = %v, want already_answered", err)
	}
	if f.te.count() != 1 {
		t.Errorf("%d token requests, want 1", f.te.count())
	}
}

func TestCompleteLandedElsewhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	answer := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	_, err := f.e.Complete(context.Background(), "skill.test_app", answer, "http://evil.example/auth/callback/skill.test_app")
	if oauth.ErrorCode(err) != oauth.CodeNotAnAnswer {
		t.Fatalf("Complete() landed elsewhere = %v, want not_an_answer", err)
	}
	if got := f.ev.snapshot(); len(got.failed) != 0 {
		t.Errorf("LoginFailed %v for an answer that is none", got.failed)
	}
	if _, err := f.e.Complete(context.Background(), "skill.test_app", answer, "http://192.0.2.10:36536/auth/callback/skill.test_app"); err != nil {
		t.Errorf("Complete() at the redirect URI afterwards = %v: the state was spent by the stray one", err)
	}
}

func TestPendingFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, _ := f.start(t, "app")
	got, err := f.e.PendingFlow(context.Background(), fl.ID)
	if err != nil || got.AuthURL != fl.AuthURL || got.Kind != oauth.FlowCode {
		t.Fatalf("PendingFlow() = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "short", "../../etc/passwd", strings.Repeat("A", 26)} {
		if _, err := f.e.PendingFlow(context.Background(), bad); oauth.ErrorCode(err) != oauth.CodeInvalidState {
			t.Errorf("PendingFlow(%q) = %v, want invalid_state", bad, err)
		}
	}
	f.clk.Add(11 * time.Minute)
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeExpiredState {
		t.Errorf("PendingFlow() after expiry = %v, want expired_state", err)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("needs creds without client id", func(t *testing.T) {
		f := newFixture(t)
		app := f.register(t, "app", func(r *oauth.Registration) { r.ClientID, r.ClientSecret = "", "" })
		if !app.NeedsCreds() {
			t.Fatal("NeedsCreds() = false without a client id")
		}
		if _, _, err := f.e.StartFlow(ctx, "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeNeedsCredentials {
			t.Fatalf("StartFlow() = %v, want needs_credentials", err)
		}
	})
	t.Run("user credentials survive re-registration", func(t *testing.T) {
		f := newFixture(t)
		f.register(t, "app", func(r *oauth.Registration) { r.ClientID, r.ClientSecret = "", "" })
		if _, err := f.e.SetCredentials(ctx, "skill.test", "app", "typed", "typed-secret"); err != nil {
			t.Fatal(err)
		}
		app := f.register(t, "app", func(r *oauth.Registration) { r.ClientID, r.ClientSecret = "", "" })
		if app.ClientID != "typed" || app.ClientSecret != "typed-secret" || app.NeedsCreds() {
			t.Fatalf("after re-register: client %q secret kept %v", app.ClientID, app.ClientSecret == "typed-secret")
		}
	})
	t.Run("token kept across a scope change, dropped by a client change", func(t *testing.T) {
		f := newFixture(t)
		f.register(t, "app", nil)
		_, q := f.start(t, "app")
		if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
			t.Fatal(err)
		}
		f.register(t, "app", func(r *oauth.Registration) { r.Scope = "read write more" })
		if _, err := f.db.Token("skill.test_app"); err != nil {
			t.Fatalf("token dropped by a scope change: %v", err)
		}
		f.register(t, "app", func(r *oauth.Registration) { r.ClientID = "other" })
		if _, err := f.db.Token("skill.test_app"); !oauth.IsNotFound(err) {
			t.Fatalf("token kept across a client change: %v", err)
		}
	})
	t.Run("unchanged registration writes nothing", func(t *testing.T) {
		f := newFixture(t)
		first := f.register(t, "app", nil)
		f.clk.Add(time.Hour)
		again := f.register(t, "app", nil)
		if !again.Updated.Equal(first.Updated) {
			t.Errorf("Updated moved on an identical registration")
		}
	})
	t.Run("munged id clash", func(t *testing.T) {
		f := newFixture(t)
		f.register(t, "b_c", func(r *oauth.Registration) { r.SkillID = "a" })
		_, err := f.e.Register(ctx, oauth.Registration{SkillID: "a_b", AppID: "c", AuthEndpoint: "https://x.example/a", TokenEndpoint: "https://x.example/t"})
		if oauth.ErrorCode(err) != oauth.CodeConflict {
			t.Fatalf("Register() clash = %v, want conflict", err)
		}
	})
	t.Run("a device login needs no auth_endpoint", func(t *testing.T) {
		f := newFixture(t)
		for name, mod := range map[string]func(*oauth.Registration){
			"login device":           func(r *oauth.Registration) { r.Login = oauth.LoginDevice },
			"device by its endpoint": func(r *oauth.Registration) {},
		} {
			r := oauth.Registration{SkillID: "skill.test", AppID: "app", TokenEndpoint: "https://x.example/t", DeviceEndpoint: "https://x.example/d"}
			mod(&r)
			if res, err := f.e.Register(ctx, r); err != nil || res.App.LoginMode() != oauth.LoginDevice {
				t.Errorf("%s: Register() = %+v, %v; want a device login", name, res, err)
			}
		}
	})
	t.Run("invalid", func(t *testing.T) {
		f := newFixture(t)
		for name, mod := range map[string]func(*oauth.Registration){
			"no auth_endpoint": func(r *oauth.Registration) { r.AuthEndpoint = "" },
			"no auth_endpoint for another mode than device": func(r *oauth.Registration) {
				r.AuthEndpoint, r.DeviceEndpoint, r.Login = "", "https://x.example/d", oauth.LoginLAN
			},
			"no skill_id":           func(r *oauth.Registration) { r.SkillID = "" },
			"traversal app_id":      func(r *oauth.Registration) { r.AppID = "../x" },
			"slash in skill_id":     func(r *oauth.Registration) { r.SkillID = "a/b" },
			"long app_id":           func(r *oauth.Registration) { r.AppID = strings.Repeat("a", 129) },
			"no token_endpoint":     func(r *oauth.Registration) { r.TokenEndpoint = "" },
			"relative auth":         func(r *oauth.Registration) { r.AuthEndpoint = "/authorize" },
			"javascript auth":       func(r *oauth.Registration) { r.AuthEndpoint = "javascript:alert(1)" },
			"bad token_auth":        func(r *oauth.Registration) { r.TokenAuth = "jwt" },
			"reserved auth param":   func(r *oauth.Registration) { r.AuthParams = map[string]string{"state": "x"} },
			"control char in scope": func(r *oauth.Registration) { r.Scope = "a\nb" },
		} {
			r := oauth.Registration{SkillID: "skill.test", AppID: "app", AuthEndpoint: "https://x.example/a", TokenEndpoint: "https://x.example/t"}
			mod(&r)
			if _, err := f.e.Register(ctx, r); oauth.ErrorCode(err) != oauth.CodeInvalidRequest {
				t.Errorf("%s: Register() = %v, want invalid_request", name, err)
			}
		}
	})
}

func TestErrorJSONShape(t *testing.T) {
	t.Parallel()
	// Errors reach the bus as code and description only: a description
	// never carries the cause's text.
	err := &oauth.Error{Code: oauth.CodeInternal, Description: "x", Err: io.ErrUnexpectedEOF}
	b, _ := json.Marshal(map[string]string{"error": oauth.ErrorCode(err), "error_description": oauth.ErrorDescription(err)})
	if strings.Contains(string(b), "unexpected EOF") {
		t.Errorf("cause leaked: %s", b)
	}
	if oauth.ErrorCode(io.EOF) != oauth.CodeInternal || strings.Contains(oauth.ErrorDescription(io.EOF), "EOF") {
		t.Errorf("a plain error is not mapped to internal_error")
	}
}
