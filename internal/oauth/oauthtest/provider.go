// Package oauthtest runs a real OAuth 2.0 / OpenID Connect authorization
// server in-process for tests (zitadel/oidc's op with its example storage
// and login UI), and plays the user's phone against it.
package oauthtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is an OAuth client the provider knows. A client without a secret
// is a native (public) client, for which the provider demands PKCE.
type Client struct {
	ID           string
	Secret       string
	RedirectURIs []string
}

// Provider is a running authorization server.
type Provider struct {
	Issuer             string // with the trailing slash zitadel uses
	AuthEndpoint       string
	TokenEndpoint      string
	UserinfoEndpoint   string
	RevocationEndpoint string
	IntrospectEndpoint string
	DeviceEndpoint     string
	Username, Password string

	storage   *recordingStorage
	device    *deviceStorage
	srv       *httptest.Server
	transport http.RoundTripper // InProcess, or nil for the network
}

// recordingStorage is the example storage with shorter announced lifetimes
// and a record of every refresh token clients present.
type recordingStorage struct {
	*storage.Storage
	lifetime time.Duration

	mu        sync.Mutex
	presented map[string]int
	refreshes int
}

func (s *recordingStorage) shorten(exp time.Time) time.Time {
	if s.lifetime > 0 {
		if short := time.Now().Add(s.lifetime); short.Before(exp) {
			return short
		}
	}
	return exp
}

func (s *recordingStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, exp, err := s.Storage.CreateAccessToken(ctx, req)
	return id, s.shorten(exp), err
}

func (s *recordingStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	id, rt, exp, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
	return id, rt, s.shorten(exp), err
}

func (s *recordingStorage) TokenRequestByRefreshToken(ctx context.Context, rt string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	s.presented[rt]++
	s.refreshes++
	s.mu.Unlock()
	return s.Storage.TokenRequestByRefreshToken(ctx, rt)
}

// Refreshes returns how many refresh requests the provider received, and
// how many refresh tokens were presented more than once (a client that
// reuses a rotated refresh token).
func (p *Provider) Refreshes() (total, reused int) {
	p.storage.mu.Lock()
	defer p.storage.mu.Unlock()
	for _, n := range p.storage.presented {
		if n > 1 {
			reused++
		}
	}
	return p.storage.refreshes, reused
}

// quietOnce silences the example server's request log, which goes to the
// process's default logger; the daemon under test never uses that one.
var quietOnce sync.Once

// Options change how a provider issues tokens.
type Options struct {
	// AccessTokenLifetime shortens the expires_in the provider announces
	// (its own limit stays 5 minutes), to drive refreshes in tests.
	AccessTokenLifetime time.Duration

	// DeviceCodeLifetime replaces the 5 minutes a device code is valid
	// for; the device authorization response announces it as expires_in,
	// rounded up to whole seconds. A poll after it is answered
	// expired_token. Zero keeps 5 minutes.
	DeviceCodeLifetime time.Duration

	// DevicePollInterval replaces the 5 s poll interval the device
	// authorization response announces, rounded up to whole seconds. It is
	// only announced; DeviceMinPollInterval is what the provider enforces.
	// Zero keeps 5 s.
	DevicePollInterval time.Duration

	// DeviceMinPollInterval makes the provider answer slow_down to a poll
	// of a device code sooner than this after the previous poll of that
	// code, whatever that one was answered. Zero enforces nothing.
	DeviceMinPollInterval time.Duration

	// InProcess serves the provider in the goroutine of each request made
	// through Client or Phone (see InProcess), on no socket: started
	// inside a testing/synctest bubble, its lifetimes and intervals run
	// on the bubble's clock. Its endpoints keep 127.0.0.1 addresses that
	// nothing listens on, and every request of Client and Phone goes to
	// the provider, whatever its host.
	InProcess bool
}

// Start runs a provider on 127.0.0.1 that knows clients, stopped when the
// test ends. Each provider has its own storage: tests may run several.
func Start(t testing.TB, clients ...Client) *Provider {
	t.Helper()
	return StartWith(t, Options{}, clients...)
}

// StartWith is Start with options.
//
// Every client may use the device authorization grant (RFC 8628), which
// the provider serves correctly where the bare example storage does not
// (see deviceStorage in device.go): a device code is redeemed once, and its refresh
// token works.
func StartWith(t testing.TB, opts Options, clients ...Client) *Provider {
	t.Helper()
	p, err := New(opts, clients...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// New runs a provider as StartWith does, for use outside a test (the load
// command cmd/ovos-oauth-bench); Close stops it.
func New(opts Options, clients ...Client) (*Provider, error) {
	quietOnce.Do(func() { slog.SetDefault(slog.New(slog.DiscardHandler)) })
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() + "/"
	known := make(map[string]*storage.Client, len(clients))
	for _, c := range clients {
		if c.Secret == "" {
			known[c.ID] = storage.NativeClient(c.ID, c.RedirectURIs...)
		} else {
			known[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
		}
	}
	users := storage.NewUserStore(issuer)
	st := &recordingStorage{Storage: newStorage(users, known), lifetime: opts.AccessTokenLifetime, presented: map[string]int{}}
	dev := newDeviceStorage(st, users, opts)
	srv.Config.Handler = dev.handler(exampleop.SetupServer(issuer, dev, nil, false))
	// The example user store names its user after the issuer's host.
	p := &Provider{Issuer: issuer, Username: "test-user@127.0.0.1", Password: "verysecure", storage: st, device: dev, srv: srv}
	if opts.InProcess {
		p.transport = InProcess{Handler: srv.Config.Handler}
		srv.Listener.Close() // only its address was wanted
	} else {
		srv.Start()
	}

	if err := p.discover(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("provider discovery: %w", err)
	}
	return p, nil
}

// discover fills the endpoints from the provider's discovery document.
func (p *Provider) discover() error {
	resp, err := p.Client().Get(p.Issuer + ".well-known/openid-configuration")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var disc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Userinfo      string `json:"userinfo_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
		Introspection string `json:"introspection_endpoint"`
		Device        string `json:"device_authorization_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil {
		return err
	}
	p.AuthEndpoint, p.TokenEndpoint, p.UserinfoEndpoint = disc.Authorization, disc.Token, disc.Userinfo
	p.RevocationEndpoint, p.IntrospectEndpoint, p.DeviceEndpoint = disc.Revocation, disc.Introspection, disc.Device
	return p.device.checkEndpoints(p)
}

// Close stops the provider and closes its connections. Start and StartWith
// call it when the test ends.
func (p *Provider) Close() {
	if p.transport == nil {
		p.srv.Close()
	}
}

// Client is an HTTP client for the provider's endpoints: a client of the
// network, or of the provider itself for one started InProcess.
func (p *Provider) Client() *http.Client { return &http.Client{Transport: p.transport} }

// Phone is a browser on the user's phone: it keeps cookies and follows
// redirects, from the provider's login page back to the device.
func (p *Provider) Phone(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: p.transport}
}

// Login opens startURL on a new phone (an authorization URL, or a short
// link that redirects to one), logs in as the test user, and follows the
// provider's redirect to wherever it goes. It returns the last response,
// whose body it has read into the returned string.
func (p *Provider) Login(t testing.TB, startURL string) (*http.Response, string) {
	t.Helper()
	return p.LoginWith(t, p.Phone(t), startURL)
}

// LoginWith is Login on a given phone, for tests that stop its redirects.
func (p *Provider) LoginWith(t testing.TB, phone *http.Client, startURL string) (*http.Response, string) {
	t.Helper()
	resp, body, err := p.Authorize(phone, startURL)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// Authorize is LoginWith for use outside a test: it returns an error where
// LoginWith fails the test. phone is any http.Client with a cookie jar.
func (p *Provider) Authorize(phone *http.Client, startURL string) (*http.Response, string, error) {
	resp, err := phone.Get(startURL)
	if err != nil {
		return nil, "", fmt.Errorf("open login page: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" {
		return nil, "", fmt.Errorf("open login page: status %d at %s, want the provider's login form", resp.StatusCode, resp.Request.URL.Redacted())
	}
	resp, err = phone.PostForm(p.Issuer+"login/username", url.Values{"id": {id}, "username": {p.Username}, "password": {p.Password}})
	if err != nil {
		return nil, "", fmt.Errorf("log in: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("log in: read: %w", err)
	}
	return resp, string(body), nil
}

// Userinfo calls the userinfo endpoint with an access token and returns the
// status: 200 proves the token is one the provider accepts.
func (p *Provider) Userinfo(t testing.TB, accessToken string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.UserinfoEndpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && !strings.Contains(string(body), `"sub"`) {
		t.Fatalf("userinfo: 200 without a subject: %s", body)
	}
	return resp.StatusCode
}
