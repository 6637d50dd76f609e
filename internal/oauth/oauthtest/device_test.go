package oauthtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Each test starts its own provider: the example storage keeps clients and
// device codes per Storage (NewStorageWithClients), and its package-level
// client map is used only by NewStorage, so these tests run in parallel.

// testClient is how a test client authenticates: a web client with its
// secret in a Basic header or in the form, or a native client by client_id.
type testClient struct {
	id, secret string
	basic      bool // send id and secret as Basic, else in the form
}

var (
	web    = testClient{id: "web", secret: "web-secret", basic: true}
	native = testClient{id: "native"}
)

func startDevice(t *testing.T, opts Options) *Provider {
	t.Helper()
	return StartWith(t, opts,
		Client{ID: web.id, Secret: web.secret, RedirectURIs: []string{"http://127.0.0.1/callback"}},
		Client{ID: native.id, RedirectURIs: []string{"http://127.0.0.1/callback"}})
}

// post sends a form as c to p's endpoint and decodes the JSON answer into
// out.
func (c testClient) post(t *testing.T, p *Provider, endpoint string, form url.Values, out any) int {
	t.Helper()
	if c.basic {
		form.Del("client_id")
	} else {
		form.Set("client_id", c.id)
		if c.secret != "" {
			form.Set("client_secret", c.secret)
		}
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.basic {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read: %v", endpoint, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: status %d, not JSON: %q", endpoint, resp.StatusCode, body)
	}
	return resp.StatusCode
}

type deviceAuth struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Error           string `json:"error"`
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// String keeps the tokens out of failure messages.
func (a tokenAnswer) String() string {
	return fmt.Sprintf("{error %q %q, access token %t, refresh token %t, type %q}", a.Error, a.Description, a.AccessToken != "", a.RefreshToken != "", a.TokenType)
}

// authorize starts a device authorization for c and fails the test if the
// provider refuses it.
func authorize(t *testing.T, p *Provider, c testClient, scope string) deviceAuth {
	t.Helper()
	var da deviceAuth
	if status := c.post(t, p, p.DeviceEndpoint, url.Values{"scope": {scope}}, &da); status != http.StatusOK || da.DeviceCode == "" || da.UserCode == "" {
		t.Fatalf("device authorization as %s: status %d, %v", c.id, status, da)
	}
	return da
}

func poll(t *testing.T, p *Provider, c testClient, deviceCode string) tokenAnswer {
	t.Helper()
	var tok tokenAnswer
	status := c.post(t, p, p.TokenEndpoint, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}, &tok)
	if (status == http.StatusOK) != (tok.Error == "") {
		t.Fatalf("poll: status %d with error %q", status, tok.Error)
	}
	return tok
}

func TestDeviceEndpoint(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	if want := p.Issuer + "device_authorization"; p.DeviceEndpoint != want {
		t.Errorf("DeviceEndpoint = %s, want %s", p.DeviceEndpoint, want)
	}
}

// TestDeviceAuthorizationClientAuth pins what zitadel accepts at the device
// authorization endpoint: it checks only a Basic header.
func TestDeviceAuthorizationClientAuth(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	tests := []struct {
		name      string
		client    testClient
		wantError string // "" for a device code
	}{
		{"web, Basic", web, ""},
		{"web, Basic with wrong secret", testClient{id: web.id, secret: "wrong", basic: true}, "unauthorized_client"},
		{"web, secret in form", testClient{id: web.id, secret: web.secret}, ""},
		{"web, wrong secret in form (not checked)", testClient{id: web.id, secret: "wrong"}, ""},
		{"web, client_id only (not required to authenticate)", testClient{id: web.id}, ""},
		{"native, client_id only", native, ""},
		{"native, Basic with empty secret", testClient{id: native.id, basic: true}, ""},
		{"unknown client (zitadel passes the storage's error on)", testClient{id: "nobody"}, "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var da deviceAuth
			status := tt.client.post(t, p, p.DeviceEndpoint, url.Values{"scope": {"openid"}}, &da)
			if da.Error != tt.wantError || (tt.wantError == "") != (status == http.StatusOK && da.DeviceCode != "") {
				t.Errorf("device authorization: status %d, error %q, want error %q", status, da.Error, tt.wantError)
			}
		})
	}
}

// TestDeviceTokenClientAuth pins how zitadel wants each client to
// authenticate when it redeems an approved device code.
func TestDeviceTokenClientAuth(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	tests := []struct {
		name      string
		start     testClient // asks for the device code
		redeem    testClient
		wantError string
	}{
		{"web, Basic", web, web, ""},
		{"web, secret in form", web, testClient{id: web.id, secret: web.secret}, "invalid_client"},
		{"web, client_id only", web, testClient{id: web.id}, "invalid_client"},
		{"native, client_id only", native, native, ""},
		{"native, Basic with empty secret", native, testClient{id: native.id, basic: true}, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			da := authorize(t, p, tt.start, "openid")
			// The state comes before client authentication.
			if got := poll(t, p, tt.redeem, da.DeviceCode); got.Error != "authorization_pending" {
				t.Errorf("poll before approval: error %q, want authorization_pending", got.Error)
			}
			p.ApproveDevice(t, da.UserCode)
			if got := poll(t, p, tt.redeem, da.DeviceCode); got.Error != tt.wantError {
				t.Errorf("poll after approval: error %q, want %q", got.Error, tt.wantError)
			}
		})
	}
}

func TestDeviceAnnounced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		opts                        Options
		wantExpiresIn, wantInterval int
	}{
		{"defaults", Options{}, 300, 5},
		{"whole seconds", Options{DeviceCodeLifetime: 90 * time.Second, DevicePollInterval: 2 * time.Second}, 90, 2},
		{"rounded up", Options{DeviceCodeLifetime: 300 * time.Millisecond, DevicePollInterval: 1500 * time.Millisecond}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startDevice(t, tt.opts)
			da := authorize(t, p, native, "openid")
			if da.ExpiresIn != tt.wantExpiresIn || da.Interval != tt.wantInterval {
				t.Errorf("expires_in, interval = %d, %d, want %d, %d", da.ExpiresIn, da.Interval, tt.wantExpiresIn, tt.wantInterval)
			}
			if want := p.Issuer + "device"; da.VerificationURI != want {
				t.Errorf("verification_uri = %s, want %s", da.VerificationURI, want)
			}
		})
	}
}

func TestDevicePollInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		min  time.Duration
		wait time.Duration
		want string
	}{
		{"too fast", time.Hour, 0, "slow_down"},
		{"after the minimum", 200 * time.Millisecond, 200 * time.Millisecond, "authorization_pending"},
		{"no minimum", 0, 0, "authorization_pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				p := startDevice(t, Options{DeviceMinPollInterval: tt.min, InProcess: true})
				da := authorize(t, p, native, "openid")
				if got := poll(t, p, native, da.DeviceCode); got.Error != "authorization_pending" {
					t.Fatalf("first poll: error %q, want authorization_pending", got.Error)
				}
				time.Sleep(tt.wait) // an interval the provider measures
				if got := poll(t, p, native, da.DeviceCode); got.Error != tt.want {
					t.Errorf("second poll: error %q, want %q", got.Error, tt.want)
				}
			})
		})
	}
}

func TestDeviceSlowDownPerCode(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{DeviceMinPollInterval: time.Hour})
	a, b := authorize(t, p, native, "openid"), authorize(t, p, native, "openid")
	for _, code := range []string{a.DeviceCode, b.DeviceCode} {
		if got := poll(t, p, native, code); got.Error != "authorization_pending" {
			t.Errorf("first poll of a code: error %q, want authorization_pending", got.Error)
		}
	}
}

// TestDeviceApprove covers caveats (a) and (b) of TESTING.md: the token
// works, the code cannot be redeemed again, and the refresh token works.
func TestDeviceApprove(t *testing.T) {
	t.Parallel()
	for _, c := range []testClient{web, native} {
		t.Run(c.id, func(t *testing.T) {
			t.Parallel()
			p := startDevice(t, Options{})
			da := authorize(t, p, c, "openid offline_access")
			p.ApproveDevice(t, da.UserCode)
			tok := poll(t, p, c, da.DeviceCode)
			if tok.Error != "" || tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
				t.Fatalf("poll after approval = %v, want a bearer token with a refresh token", tok)
			}
			if got := p.Userinfo(t, tok.AccessToken); got != http.StatusOK {
				t.Errorf("userinfo with the device grant's access token: status %d, want 200", got)
			}

			if again := poll(t, p, c, da.DeviceCode); again.Error != "invalid_grant" {
				t.Errorf("second redemption = %v, want invalid_grant", again)
			}

			var refreshed tokenAnswer
			status := c.post(t, p, p.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, &refreshed)
			if status != http.StatusOK || refreshed.AccessToken == "" || refreshed.RefreshToken == "" {
				t.Fatalf("refresh with the device grant's refresh token: status %d, %v", status, refreshed)
			}
			if got := p.Userinfo(t, refreshed.AccessToken); got != http.StatusOK {
				t.Errorf("userinfo with the refreshed access token: status %d, want 200", got)
			}
			if got := p.Userinfo(t, tok.AccessToken); got == http.StatusOK {
				t.Errorf("userinfo with the access token the refresh replaced: status 200, want a refusal")
			}
			if total, reused := p.Refreshes(); total != 1 || reused != 0 {
				t.Errorf("Refreshes() = %d, %d, want 1, 0", total, reused)
			}
		})
	}
}

// TestDevicePollDuringApproval polls while the user approves, for the race
// detector: the example storage changes the state zitadel reads.
func TestDevicePollDuringApproval(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	da := authorize(t, p, native, "openid")
	var tok tokenAnswer
	done := make(chan struct{})
	go func() {
		defer close(done) // also if post fails the test and ends the goroutine
		for tok.Error = "authorization_pending"; tok.Error == "authorization_pending"; {
			tok = tokenAnswer{}
			native.post(t, p, p.TokenEndpoint, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}}, &tok)
		}
	}()
	p.ApproveDevice(t, da.UserCode)
	<-done
	if tok.Error != "" || tok.AccessToken == "" {
		t.Errorf("poll racing the approval = %v, want a token", tok)
	}
}

func TestDeviceApproveWithoutOfflineAccess(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	da := authorize(t, p, web, "openid")
	p.ApproveDevice(t, da.UserCode)
	tok := poll(t, p, web, da.DeviceCode)
	if tok.Error != "" || tok.AccessToken == "" || tok.RefreshToken != "" {
		t.Fatalf("poll after approval = %v, want an access token without a refresh token", tok)
	}
	if got := p.Userinfo(t, tok.AccessToken); got != http.StatusOK {
		t.Errorf("userinfo: status %d, want 200", got)
	}
	if again := poll(t, p, web, da.DeviceCode); again.Error != "invalid_grant" {
		t.Errorf("second redemption = %v, want invalid_grant", again)
	}
}

// TestDeviceRevoke revokes a device grant's refresh token, which the
// example storage refuses for tokens stored without their client id.
func TestDeviceRevoke(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	da := authorize(t, p, web, "openid offline_access")
	p.ApproveDevice(t, da.UserCode)
	tok := poll(t, p, web, da.DeviceCode)
	req, err := http.NewRequest(http.MethodPost, p.RevocationEndpoint, strings.NewReader(url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(web.id, web.secret)
	resp, err := p.Client().Do(req)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke the device grant's refresh token: status %d: %s", resp.StatusCode, body)
	}
	var refreshed tokenAnswer
	web.post(t, p, p.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, &refreshed)
	if refreshed.Error != "invalid_grant" {
		t.Errorf("refresh with the revoked refresh token = %v, want invalid_grant", refreshed)
	}
}

func TestDeviceDeny(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	da := authorize(t, p, native, "openid")
	p.DenyDevice(t, da.UserCode)
	if got := poll(t, p, native, da.DeviceCode); got.Error != "access_denied" {
		t.Errorf("poll after denial: error %q, want access_denied", got.Error)
	}
}

func TestDeviceExpired(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const lifetime = 300 * time.Millisecond
		p := startDevice(t, Options{DeviceCodeLifetime: lifetime, InProcess: true})
		da := authorize(t, p, native, "openid")
		if got := poll(t, p, native, da.DeviceCode); got.Error != "authorization_pending" {
			t.Fatalf("poll within the lifetime: error %q, want authorization_pending", got.Error)
		}
		// The bubble's clock stood still while the code was stored: the
		// lifetime ends a lifetime from now, and zitadel refuses a code
		// only after its end.
		time.Sleep(lifetime + time.Nanosecond)
		if got := poll(t, p, native, da.DeviceCode); got.Error != "expired_token" {
			t.Errorf("poll after the lifetime: error %q, want expired_token", got.Error)
		}
	})
}

// TestDeviceAnswerRefused runs the phone's walk on codes the form must
// refuse, on a test that records failures instead of stopping.
func TestDeviceAnswerRefused(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{})
	answered := authorize(t, p, native, "openid")
	p.ApproveDevice(t, answered.UserCode)
	denied := authorize(t, p, native, "openid")
	p.DenyDevice(t, denied.UserCode)
	tests := []struct {
		name, code string
		answer     func(testing.TB, string)
		want       string
	}{
		{"unknown", "BCDF-GHJK", p.ApproveDevice, "user code not found"},
		{"already approved", answered.UserCode, p.ApproveDevice, "user code already used"},
		{"deny after approval", answered.UserCode, p.DenyDevice, "user code already used"},
		{"approve after denial", denied.UserCode, p.ApproveDevice, "user code already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRefused(t, tt.name, func(tb testing.TB) { tt.answer(tb, tt.code) }, tt.want)
		})
	}
	// An expired code, on a provider of a synctest bubble's clock.
	for _, tt := range []struct {
		name   string
		answer func(*Provider, testing.TB, string)
	}{
		{"expired", (*Provider).ApproveDevice},
		{"deny expired", (*Provider).DenyDevice},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const lifetime = 300 * time.Millisecond
				short := startDevice(t, Options{DeviceCodeLifetime: lifetime, InProcess: true})
				expired := authorize(t, short, native, "openid")
				time.Sleep(lifetime + time.Nanosecond) // just past its end
				wantRefused(t, tt.name, func(tb testing.TB) { tt.answer(short, tb, expired.UserCode) }, "user code expired")
			})
		})
	}
}

// wantRefused runs answer, the phone's walk on a code, on a test that
// records its failure, and checks that it failed saying want.
func wantRefused(t *testing.T, name string, answer func(testing.TB), want string) {
	t.Helper()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends only this goroutine
		defer close(done)
		answer(rec)
	}()
	<-done
	if !strings.Contains(rec.msg, want) {
		t.Errorf("answering the %s code failed with %q, want it to mention %q", name, rec.msg, want)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the calling goroutine, without failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestDevicePolls(t *testing.T) {
	t.Parallel()
	p := startDevice(t, Options{DeviceMinPollInterval: time.Hour})
	before := time.Now()
	pending := authorize(t, p, web, "openid offline_access")
	poll(t, p, web, pending.DeviceCode)
	poll(t, p, web, pending.DeviceCode)
	approved := authorize(t, p, web, "openid offline_access")
	p.ApproveDevice(t, approved.UserCode)
	tok := poll(t, p, web, approved.DeviceCode) // its first poll: no slow_down
	var refreshed tokenAnswer
	web.post(t, p, p.TokenEndpoint, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, &refreshed)
	after := time.Now()

	polls := p.DevicePolls()
	var got []string
	for i, dp := range polls {
		got = append(got, dp.Error)
		if dp.At.Before(before) || dp.At.After(after) || (i > 0 && dp.At.Before(polls[i-1].At)) {
			t.Errorf("DevicePolls()[%d].At = %v, want in order between %v and %v", i, dp.At, before, after)
		}
	}
	// The refresh is a token request too, but not a device poll.
	if diff := cmp.Diff(got, []string{"authorization_pending", "slow_down", ""}); diff != "" {
		t.Errorf("DevicePolls() errors (-got +want):\n%s", diff)
	}
}
