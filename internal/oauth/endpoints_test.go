package oauth_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// recorder is an endpoint a hostile bus client controls: it records every
// request it receives (path, Basic credentials, body) and answers as a
// willing device endpoint would.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" basic="+user+":"+pass+" body="+string(body))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"device_code":"DC","user_code":"ABCD-EFGH","verification_uri":"https://evil.example/device","expires_in":600,"interval":5}`)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// lockedBuffer is a log sink the engine's goroutines may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// providerFixture is the engine fixture with a real provider (zitadel's)
// that knows one client, and the engine's log kept.
type providerFixture struct {
	*fixture
	p   *oauthtest.Provider
	log *lockedBuffer
}

const providerApp = "app" // its redirect URI is the one the provider knows

func newProviderFixture(t *testing.T, client oauthtest.Client) *providerFixture {
	t.Helper()
	f := newFixture(t)
	log := &lockedBuffer{}
	f.e = oauth.NewEngine(f.db, f.ev, "http://192.0.2.10:36536", slog.New(slog.NewTextHandler(log, nil)))
	f.e.Now = f.clk.Now
	client.RedirectURIs = []string{f.e.RedirectURI(&oauth.App{SkillID: "skill.test", AppID: providerApp})}
	return &providerFixture{fixture: f, p: oauthtest.Start(t, client), log: log}
}

// registration is the app as its skill registers it: the provider's
// endpoints, revocation included.
func (f *providerFixture) registration(clientID, secret string) oauth.Registration {
	return oauth.Registration{
		SkillID: "skill.test", AppID: providerApp, ClientID: clientID, ClientSecret: oauth.Secret(secret),
		AuthEndpoint: f.p.AuthEndpoint, TokenEndpoint: f.p.TokenEndpoint, RevocationEndpoint: f.p.RevocationEndpoint,
		Scope: "openid offline_access", ShellIntegration: true, PKCE: true,
	}
}

// login runs a whole login at the provider: the authorization URL on a
// phone that logs in, the provider's answer handed to Complete as the
// callback would.
func (f *providerFixture) login(t *testing.T) *oauth.Token {
	t.Helper()
	fl, _, err := f.e.StartFlow(context.Background(), "skill.test", providerApp)
	if err != nil {
		t.Fatalf("StartFlow() = %v", err)
	}
	callback, err := url.Parse(fl.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	phone := f.p.Phone(t)
	phone.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == callback.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, _ := f.p.LoginWith(t, phone, fl.AuthURL)
	answer, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || answer.Host != callback.Host {
		t.Fatalf("provider answered %d to %q, want a redirect to the callback", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := f.e.Complete(context.Background(), "skill.test_"+providerApp, answer.Query(), ""); err != nil {
		t.Fatalf("Complete() = %v", err)
	}
	tok, err := f.db.Token("skill.test_" + providerApp)
	if err != nil {
		t.Fatalf("no token stored after Complete(): %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login gave %v, want an access and a refresh token", tok)
	}
	return tok
}

// noneOf fails the test for each secret found in what the recorder received.
func noneOf(t *testing.T, rec *recorder, secrets map[string]string) {
	t.Helper()
	for _, req := range rec.requests() {
		for name, s := range secrets {
			if s != "" && (strings.Contains(req, s) || strings.Contains(req, url.QueryEscape(s))) {
				t.Errorf("the hostile endpoint received the %s", name)
			}
		}
	}
}

// TestRevokeAfterHostileReRegistration: a bus client re-registers a
// logged-in app with its client id and token endpoint, no secret, and a
// revocation endpoint of its own, then asks for a revocation. Neither the
// refresh token nor the access token reaches its endpoint, and the daemon
// does not claim a revocation it did not make.
func TestRevokeAfterHostileReRegistration(t *testing.T) {
	t.Parallel()
	const secret = "web-client-secret"
	f := newProviderFixture(t, oauthtest.Client{ID: "web", Secret: secret})
	ctx := context.Background()
	if _, err := f.e.Register(ctx, f.registration("web", secret)); err != nil {
		t.Fatal(err)
	}
	tok := f.login(t)

	rec := newRecorder(t)
	hostile := f.registration("web", "")
	hostile.RevocationEndpoint = rec.URL + "/revoke"
	res, err := f.e.Register(ctx, hostile)
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	if !res.TokenDropped || res.CredentialsDropped {
		t.Errorf("Register() = %+v, want TokenDropped and not CredentialsDropped", res)
	}
	revoked, err := f.e.Revoke(ctx, "skill.test", providerApp)
	if err != nil || revoked.Revoked || revoked.Forgotten {
		t.Errorf("Revoke() = %+v, %v; want nothing revoked or forgotten (no token left to revoke), nil", revoked, err)
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("the hostile revocation endpoint received %d requests, want none", len(reqs))
	}
	noneOf(t, rec, map[string]string{"refresh token": tok.RefreshToken.Reveal(), "access token": tok.AccessToken.Reveal(), "client secret": secret})
	if _, err := f.db.Token("skill.test_" + providerApp); !oauth.IsNotFound(err) {
		t.Errorf("stored token after the re-registration: %v, want none", err)
	}
	f.wantWarning(t, "revocation_endpoint", secret, tok.RefreshToken.Reveal(), tok.AccessToken.Reveal())
}

// wantWarning checks the log: a warning that names the app and the endpoint
// that moved, and none of the secrets anywhere.
func (f *providerFixture) wantWarning(t *testing.T, endpoint string, secrets ...string) {
	t.Helper()
	log := f.log.String()
	found := false
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "app=skill.test_"+providerApp) && strings.Contains(line, endpoint) {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning naming the app and %s in the log:\n%s", endpoint, log)
	}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("a secret is in the log")
		}
	}
}

// TestDeviceLoginAfterHostileReRegistration: the user typed the client
// id and secret; a bus client re-registers the app without a client id (so
// that typed credentials would be kept), for a device login at an endpoint
// of its own, and asks for a login. The typed secret does not reach it.
func TestDeviceLoginAfterHostileReRegistration(t *testing.T) {
	t.Parallel()
	const typedSecret = "typed-client-secret"
	f := newProviderFixture(t, oauthtest.Client{ID: "typed-id", Secret: typedSecret})
	ctx := context.Background()
	if _, err := f.e.Register(ctx, f.registration("", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.SetCredentials(ctx, "skill.test", providerApp, "typed-id", typedSecret); err != nil {
		t.Fatal(err)
	}
	tok := f.login(t)

	rec := newRecorder(t)
	hostile := f.registration("", "")
	hostile.Login, hostile.DeviceEndpoint = oauth.LoginDevice, rec.URL+"/device"
	res, err := f.e.Register(ctx, hostile)
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	if !res.TokenDropped || !res.CredentialsDropped || !res.App.NeedsCreds() || res.App.ClientSecret != "" {
		t.Errorf("Register() = %+v, want TokenDropped, CredentialsDropped and the app without credentials", res)
	}
	if _, _, err := f.e.StartFlow(ctx, "skill.test", providerApp); oauth.ErrorCode(err) != oauth.CodeNeedsCredentials {
		t.Errorf("StartFlow() = %v, want needs_credentials: the typed ones were entered for other endpoints", err)
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("the hostile device endpoint received %d requests, want none", len(reqs))
	}
	noneOf(t, rec, map[string]string{"typed client secret": typedSecret, "refresh token": tok.RefreshToken.Reveal()})
	if _, err := f.db.Token("skill.test_" + providerApp); !oauth.IsNotFound(err) {
		t.Errorf("stored token after the re-registration: %v, want none", err)
	}
	f.wantWarning(t, "device_endpoint", typedSecret, tok.RefreshToken.Reveal(), tok.AccessToken.Reveal())
}

// TestPendingLoginBoundToItsEndpoints: a login started before a
// re-registration that moves an endpoint is not finished under the new
// one: its token would go where the login was not meant to send it.
func TestPendingLoginBoundToItsEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	_, q := f.start(t, "app")
	f.register(t, "app", func(r *oauth.Registration) { r.RevocationEndpoint = "https://evil.example/revoke" })
	_, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if oauth.ErrorCode(err) != oauth.CodeInvalidState || f.te.count() != 0 {
		t.Fatalf("Complete() after the revocation endpoint moved = %v with %d token requests; want invalid_state and none", err, f.te.count())
	}
	if _, err := f.db.Token("skill.test_app"); !oauth.IsNotFound(err) {
		t.Errorf("stored token: %v, want none", err)
	}
}

// TestDevicePollInFlightDuringReRegistration: the provider answers a
// device poll with a token after the app was registered again with another
// revocation endpoint. The token is not stored under that registration.
func TestDevicePollInFlightDuringReRegistration(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		arrived, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/device" {
				jsonAnswer(200, `{"device_code":"DC-1",`+deviceAnswer[1:])(w, r)
				return
			}
			once.Do(func() { close(arrived) })
			<-release
			jsonAnswer(200, `{"access_token":"AT-D","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-D"}`)(w, r)
		})
		device := func(r *oauth.Registration) { r.DeviceEndpoint = "http://provider.test/device" }
		f.register(t, "tv", device)
		f.start(t)
		defer f.stop(t)
		if _, _, err := f.e.StartFlow(context.Background(), "skill.test", "tv"); err != nil {
			t.Fatalf("StartFlow() = %v", err)
		}
		advance(5 * time.Second) // the provider's interval: the first poll is out
		select {
		case <-arrived:
		default:
			t.Fatal("no poll after the interval")
		}
		f.register(t, "tv", func(r *oauth.Registration) {
			device(r)
			r.RevocationEndpoint = "https://evil.example/revoke"
		})
		close(release)
		synctest.Wait()
		if tok, err := f.db.Token("skill.test_tv"); !oauth.IsNotFound(err) {
			t.Errorf("stored token = %v, %v; want none: it was issued for other endpoints", tok, err)
		}
		if ev := f.ev.snapshot(); len(ev.issued) != 0 || len(ev.failed) != 1 {
			t.Errorf("events = %+v, want the login reported failed", ev)
		}
	})
}

// TestReRegistrationKeepsOrDropsTheToken: which changes of a registration
// drop the app's token. Endpoints are compared as provider presets resolve
// them; of the authorization endpoint only the origin counts.
func TestReRegistrationKeepsOrDropsTheToken(t *testing.T) {
	t.Parallel()
	github, _ := oauth.KnownProvider("github")
	explicitGitHub := func(r *oauth.Registration) {
		r.AuthEndpoint, r.TokenEndpoint, r.DeviceEndpoint = github.AuthEndpoint, github.TokenEndpoint, github.DeviceEndpoint
		r.Login, r.TokenAuth = github.Login, github.TokenAuth
	}
	homeAssistant := func(instance string) func(r *oauth.Registration) {
		return func(r *oauth.Registration) {
			r.Provider, r.InstanceURL, r.AuthEndpoint, r.TokenEndpoint = "homeassistant", instance, "", ""
		}
	}
	tests := []struct {
		name        string
		first, then func(r *oauth.Registration) // nil: as the skill registers it
		drop        bool
	}{
		{"unchanged", nil, nil, false},
		{"scope", nil, func(r *oauth.Registration) { r.Scope = "read write more" }, false},
		{"login mode", nil, func(r *oauth.Registration) { r.Login = oauth.LoginLoopback }, false},
		{"authorization endpoint's path", nil, func(r *oauth.Registration) { r.AuthEndpoint = "https://provider.example/v2/authorize" }, false},
		{"authorization endpoint's host spelt in capitals", nil, func(r *oauth.Registration) { r.AuthEndpoint = "https://PROVIDER.example/authorize" }, false},
		{"preset resolving to the same endpoints", explicitGitHub, func(r *oauth.Registration) {
			r.Provider, r.AuthEndpoint, r.TokenEndpoint = "github", "", ""
		}, false},
		{"authorization endpoint's host", nil, func(r *oauth.Registration) { r.AuthEndpoint = "https://evil.example/authorize" }, true},
		{"authorization endpoint's scheme", nil, func(r *oauth.Registration) { r.AuthEndpoint = "http://provider.example/authorize" }, true},
		{"authorization endpoint's port", nil, func(r *oauth.Registration) { r.AuthEndpoint = "https://provider.example:8443/authorize" }, true},
		{"token endpoint", nil, func(r *oauth.Registration) { r.TokenEndpoint += "/v2" }, true},
		{"revocation endpoint added", nil, func(r *oauth.Registration) { r.RevocationEndpoint = "https://evil.example/revoke" }, true},
		{"revocation endpoint moved", func(r *oauth.Registration) { r.RevocationEndpoint = "https://provider.example/revoke" },
			func(r *oauth.Registration) { r.RevocationEndpoint = "https://evil.example/revoke" }, true},
		{"revocation endpoint removed", func(r *oauth.Registration) { r.RevocationEndpoint = "https://provider.example/revoke" }, nil, true},
		{"device endpoint added", nil, func(r *oauth.Registration) { r.DeviceEndpoint = "https://evil.example/device" }, true},
		{"client id", nil, func(r *oauth.Registration) { r.ClientID = "other" }, true},
		{"preset at another instance", homeAssistant("http://ha.local:8123"), homeAssistant("http://evil.example:8123"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.register(t, "app", tt.first)
			if err := f.db.PutToken("skill.test_app", &oauth.Token{AccessToken: "AT", RefreshToken: "RT"}); err != nil {
				t.Fatal(err)
			}
			r := oauth.Registration{
				SkillID: "skill.test", AppID: "app", ClientID: "cid", ClientSecret: "csecret",
				AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: f.te.URL + "/token",
				Scope: "read write", ShellIntegration: true, PKCE: true,
			}
			if tt.then != nil {
				tt.then(&r)
			}
			res, err := f.e.Register(context.Background(), r)
			if err != nil {
				t.Fatalf("Register() = %v", err)
			}
			_, err = f.db.Token("skill.test_app")
			if res.TokenDropped != tt.drop || oauth.IsNotFound(err) != tt.drop {
				t.Errorf("TokenDropped = %v, token gone = %v (%v); want both %v", res.TokenDropped, oauth.IsNotFound(err), err, tt.drop)
			}
			if res.CredentialsDropped {
				t.Errorf("CredentialsDropped without typed credentials")
			}
		})
	}
}

// TestReRegistrationAndClientSecrets: credentials the user typed survive a
// registration without a client id only while the endpoints they go to
// stay; a skill's own secret never carries over to a registration that
// sends none.
func TestReRegistrationAndClientSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noClient := func(r *oauth.Registration) { r.ClientID, r.ClientSecret = "", "" }
	t.Run("typed credentials", func(t *testing.T) {
		f := newFixture(t)
		f.register(t, "app", noClient)
		if _, err := f.e.SetCredentials(ctx, "skill.test", "app", "typed", "typed-secret"); err != nil {
			t.Fatal(err)
		}
		app := f.register(t, "app", func(r *oauth.Registration) { noClient(r); r.Scope = "more" })
		if app.ClientID != "typed" || app.ClientSecret != "typed-secret" {
			t.Fatalf("typed credentials lost to a scope change: client %q", app.ClientID)
		}
		r := oauth.Registration{SkillID: "skill.test", AppID: "app", AuthEndpoint: "https://provider.example/authorize",
			TokenEndpoint: f.te.URL + "/token", RevocationEndpoint: "https://evil.example/revoke"}
		res, err := f.e.Register(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if !res.CredentialsDropped || res.TokenDropped || !res.App.NeedsCreds() || res.App.ClientSecret != "" || res.App.CredsFromUser {
			t.Errorf("Register() with a new revocation endpoint = %+v, want the typed credentials dropped (no token to drop)", res)
		}
		// Not back when the endpoints are: they were forgotten.
		if app := f.register(t, "app", noClient); !app.NeedsCreds() {
			t.Errorf("typed credentials came back: client %q", app.ClientID)
		}
	})
	t.Run("a skill's secret", func(t *testing.T) {
		f := newFixture(t)
		f.register(t, "app", nil) // client cid with its secret
		for name, mod := range map[string]func(r *oauth.Registration){
			"same endpoints":          func(r *oauth.Registration) { r.ClientSecret = "" },
			"new revocation endpoint": func(r *oauth.Registration) { r.ClientSecret, r.RevocationEndpoint = "", "https://evil.example/revoke" },
		} {
			res, err := f.e.Register(ctx, func() oauth.Registration {
				r := oauth.Registration{SkillID: "skill.test", AppID: "app", ClientID: "cid", ClientSecret: "csecret",
					AuthEndpoint: "https://provider.example/authorize", TokenEndpoint: f.te.URL + "/token", Scope: "read write", ShellIntegration: true, PKCE: true}
				mod(&r)
				return r
			}())
			if err != nil {
				t.Fatal(err)
			}
			if res.App.ClientSecret != "" || res.CredentialsDropped {
				t.Errorf("%s: the app kept a secret the registration did not send (CredentialsDropped %v)", name, res.CredentialsDropped)
			}
		}
	})
}
