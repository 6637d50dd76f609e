package oauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// DevicePoll is one device access token request (grant_type
// urn:ietf:params:oauth:grant-type:device_code) the provider answered.
type DevicePoll struct {
	At    time.Time // when the request arrived
	Error string    // the OAuth error code answered, "" for a token; for an answer that is not OAuth JSON, its status and start
}

// DevicePolls returns the device access token requests the provider has
// answered so far, oldest first. A poll is recorded before its answer is
// sent, so it is there as soon as the client has the answer. It is safe to
// call concurrently with polls.
func (p *Provider) DevicePolls() []DevicePoll {
	p.device.mu.Lock()
	defer p.device.mu.Unlock()
	return slices.Clone(p.device.polls)
}

// ApproveDevice plays the user on their phone: it opens the provider's
// device page, enters userCode, logs in as p.Username and allows the
// device. It fails the test if any page is not what it should be, for
// example if the code is unknown, expired or already answered.
func (p *Provider) ApproveDevice(t testing.TB, userCode string) {
	t.Helper()
	p.answerDevice(t, userCode, "allowed")
}

// DenyDevice is ApproveDevice with the user denying the device.
func (p *Provider) DenyDevice(t testing.TB, userCode string) {
	t.Helper()
	p.answerDevice(t, userCode, "denied")
}

// answerDevice walks exampleop's device pages: /device (user code form),
// /device/login (username and password), /device/confirm?action=…. Each
// refusal redirects back to /device with the reason in a prompt parameter.
func (p *Provider) answerDevice(t testing.TB, userCode, action string) {
	t.Helper()
	phone := p.Phone(t)
	page := p.Issuer + "device"
	step := func(what, method, target string, form url.Values, wantPath, want string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == http.MethodPost {
			resp, err = phone.PostForm(target, form)
		} else {
			resp, err = phone.Get(target)
		}
		if err != nil {
			t.Fatalf("device %s: %v", what, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("device %s: read: %v", what, err)
		}
		if prompt := resp.Request.URL.Query().Get("prompt"); prompt != "" {
			msg, _ := url.QueryUnescape(prompt)
			t.Fatalf("device %s: the provider refused: %s", what, msg)
		}
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != wantPath || !strings.Contains(string(body), want) {
			t.Fatalf("device %s: status %d at %s, want %q at %s", what, resp.StatusCode, resp.Request.URL.Redacted(), want, wantPath)
		}
	}
	step("open page", http.MethodGet, page, nil, "/device", `name="user_code"`)
	step("enter code", http.MethodPost, page, url.Values{"user_code": {userCode}}, "/device", `action="/device/login"`)
	step("log in", http.MethodPost, page+"/login", url.Values{"user_code": {userCode}, "username": {p.Username}, "password": {p.Password}}, "/device/login", "./confirm?action="+action)
	step("confirm", http.MethodGet, page+"/confirm?action="+action, nil, "/device/confirm", "Device authorization "+action)
}

// deviceStorage is the provider's storage with the device authorization
// grant (RFC 8628) made configurable and correct.
//
// What v3.52.0's example storage does, checked by the tests in
// device_test.go, and what deviceStorage changes:
//
//   - A device code could be redeemed more than once: GetDeviceAuthorizatonState
//     keeps answering Done for an approved code, so every poll after approval
//     got a fresh access token (and refresh token). deviceStorage remembers
//     which codes it issued tokens for and answers a second redemption with
//     invalid_grant, as RFC 6749 section 5.2 says for a used grant (RFC 8628
//     section 3.5 defers to it).
//   - A device grant's refresh token failed in a refresh_token grant with
//     invalid_grant. The example's getInfoFromRequest knows only its own
//     *AuthRequest and *RefreshTokenRequest, so for an
//     *op.DeviceAuthorizationState it stored the tokens with an empty client
//     id, and op.ValidateRefreshTokenRequest refuses a refresh token whose
//     client id is not the caller's. deviceStorage hands the example storage
//     its own request types carrying the client id, which fixes refresh (and
//     revocation of those tokens, which checks the same id).
//   - exampleop's confirm page completes the authorization with the
//     username as the subject, but the example user store is keyed by user
//     id ("id1"), so with scope openid the token request failed with
//     server_error "user not found" (creating the ID token), and without it
//     the access token was refused at userinfo. deviceStorage stores the
//     user's id instead.
//   - Neither storage.WebClient nor storage.NativeClient allows the device
//     grant; deviceStorage adds it to every client.
//   - CompleteDeviceAuthorization mutates the state GetDeviceAuthorizatonState
//     handed to zitadel, which reads it unlocked: a poll racing the user's
//     approval is a data race (seen by -race in about one run of
//     TestDevicePollDuringApproval in a hundred). deviceStorage serialises
//     the two and hands zitadel a copy.
//   - The example's user code form accepted a code that had expired or had
//     already been answered, and its DenyDeviceAuthorization dereferences a
//     nil state for an unknown code. deviceStorage refuses those codes at the form, which
//     shows the refusal as an error prompt.
//
// What zitadel itself does and deviceStorage leaves alone:
//
//   - The device authorization endpoint never checks a client secret sent
//     in the form, and does not require a confidential client to
//     authenticate at all: client_id alone is enough for a web client. Only
//     a Basic authorization header is checked, and a wrong secret there is
//     refused with unauthorized_client.
//   - At the token endpoint a web client must authenticate with Basic (its
//     form-posted secret is not checked, so it counts as unauthenticated) and
//     a native client must send client_id in the form and no Basic header.
//     zitadel checks this only after the device code's state, so a wrongly
//     authenticated poll still learns authorization_pending, slow_down,
//     access_denied or expired_token; only the redemption itself is refused
//     with invalid_client.
//   - An unknown device code is answered with access_denied, not
//     invalid_grant, and an unknown client_id at the device authorization
//     endpoint with 500 server_error, not invalid_client.
//   - zitadel checks Done and Denied before expiry; deviceStorage's refusal
//     of expired codes at the form keeps an expired code from being approved.
type deviceStorage struct {
	*recordingStorage
	users       storage.UserStore // the one s stores, to find a user's id
	lifetime    time.Duration     // stored device code lifetime, 0 for zitadel's
	interval    time.Duration     // announced poll interval, 0 for zitadel's
	minInterval time.Duration     // slow_down below this, 0 for never

	// mu serialises the device state: the example storage hands out its
	// internal state pointers and changes them on approval.
	mu       sync.Mutex
	lastPoll map[string]time.Time                    // by device code
	issuing  map[*op.DeviceAuthorizationState]string // approved states handed to zitadel, to their device code; one stays behind per poll refused after the lookup (invalid_client)
	redeemed map[string]bool                         // device codes tokens were issued for
	polls    []DevicePoll
}

func newDeviceStorage(s *recordingStorage, users storage.UserStore, opts Options) *deviceStorage {
	return &deviceStorage{
		recordingStorage: s,
		users:            users,
		lifetime:         opts.DeviceCodeLifetime,
		interval:         opts.DevicePollInterval,
		minInterval:      opts.DeviceMinPollInterval,
		lastPoll:         map[string]time.Time{},
		issuing:          map[*op.DeviceAuthorizationState]string{},
		redeemed:         map[string]bool{},
	}
}

// deviceClient is a client that also allows the device grant.
type deviceClient struct{ op.Client }

func (c deviceClient) GrantTypes() []oidc.GrantType { return withDeviceGrant(c.Client.GrantTypes()) }

// deviceGlobClient is deviceClient for a client with redirect URI globs,
// which zitadel finds by type assertion.
type deviceGlobClient struct{ op.HasRedirectGlobs }

func (c deviceGlobClient) GrantTypes() []oidc.GrantType {
	return withDeviceGrant(c.HasRedirectGlobs.GrantTypes())
}

func withDeviceGrant(types []oidc.GrantType) []oidc.GrantType {
	if slices.Contains(types, oidc.GrantTypeDeviceCode) {
		return types
	}
	return append(slices.Clip(types), oidc.GrantTypeDeviceCode)
}

func (s *deviceStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.recordingStorage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	if g, ok := c.(op.HasRedirectGlobs); ok {
		return deviceGlobClient{g}, nil
	}
	return deviceClient{c}, nil
}

func (s *deviceStorage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	if s.lifetime > 0 {
		expires = time.Now().Add(s.lifetime)
	}
	return s.recordingStorage.StoreDeviceAuthorization(ctx, clientID, deviceCode, userCode, expires, scopes)
}

// GetDeviceAuthorizatonState answers slow_down (zitadel's meaning of a
// context.DeadlineExceeded here) to a poll sooner than minInterval after
// the previous poll of the same code, whatever that one was answered.
func (s *deviceStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	state, err := s.recordingStorage.GetDeviceAuthorizatonState(ctx, clientID, deviceCode)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	last, polled := s.lastPoll[deviceCode]
	s.lastPoll[deviceCode] = now
	if s.minInterval > 0 && polled && now.Sub(last) < s.minInterval {
		return nil, fmt.Errorf("device code polled %v after the previous poll, minimum %v: %w", now.Sub(last), s.minInterval, context.DeadlineExceeded)
	}
	c := copyState(state)
	if c.Done && !c.Denied {
		s.issuing[c] = deviceCode
	}
	return c, nil
}

func copyState(st *op.DeviceAuthorizationState) *op.DeviceAuthorizationState {
	c := *st
	c.Audience, c.Scopes, c.AMR = slices.Clone(st.Audience), slices.Clone(st.Scopes), slices.Clone(st.AMR)
	return &c
}

// redeem marks the device code behind an approved state zitadel is
// issuing tokens for as used, and refuses a code used before.
func (s *deviceStorage) redeem(st *op.DeviceAuthorizationState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, ok := s.issuing[st]
	if !ok {
		return nil
	}
	delete(s.issuing, st)
	if s.redeemed[code] {
		return oidc.ErrInvalidGrant().WithDescription("device code already redeemed")
	}
	s.redeemed[code] = true
	return nil
}

// CreateAccessToken gives the example storage an *AuthRequest for a device
// grant, so it stores the client id with the token.
func (s *deviceStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	if st, ok := req.(*op.DeviceAuthorizationState); ok {
		if err := s.redeem(st); err != nil {
			return "", time.Time{}, err
		}
		req = &storage.AuthRequest{ApplicationID: st.ClientID, UserID: st.Subject, Scopes: st.Scopes}
	}
	return s.recordingStorage.CreateAccessToken(ctx, req)
}

// CreateAccessAndRefreshTokens gives the example storage a
// *RefreshTokenRequest for a device grant, so it stores the client id with
// the tokens and the refresh token works.
func (s *deviceStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if st, ok := req.(*op.DeviceAuthorizationState); ok {
		if err := s.redeem(st); err != nil {
			return "", "", time.Time{}, err
		}
		req = storage.RefreshTokenRequestFromBusiness(&storage.RefreshToken{
			ApplicationID: st.ClientID, UserID: st.Subject, Audience: st.GetAudience(),
			Scopes: st.Scopes, AuthTime: st.AuthTime, AMR: st.AMR,
		})
	}
	return s.recordingStorage.CreateAccessAndRefreshTokens(ctx, req, current)
}

// userCode finds an unanswered, unexpired device authorization by its user
// code; the caller holds s.mu.
func (s *deviceStorage) userCode(ctx context.Context, userCode string) (*op.DeviceAuthorizationState, error) {
	st, err := s.recordingStorage.GetDeviceAuthorizationByUserCode(ctx, userCode)
	switch {
	case err != nil:
		return nil, err
	case st.Done || st.Denied:
		return nil, errors.New("user code already used")
	case time.Now().After(st.Expires):
		return nil, errors.New("user code expired")
	}
	return copyState(st), nil
}

func (s *deviceStorage) GetDeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*op.DeviceAuthorizationState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userCode(ctx, userCode)
}

// CompleteDeviceAuthorization stores the user's id as the subject where
// exampleop passes the username.
func (s *deviceStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, subject string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.userCode(ctx, userCode); err != nil {
		return err
	}
	if u := s.users.GetUserByUsername(subject); u != nil {
		subject = u.ID
	}
	return s.recordingStorage.CompleteDeviceAuthorization(ctx, userCode, subject)
}

func (s *deviceStorage) DenyDeviceAuthorization(ctx context.Context, userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.userCode(ctx, userCode); err != nil {
		return err
	}
	return s.recordingStorage.DenyDeviceAuthorization(ctx, userCode)
}

// Paths of zitadel's endpoints (exampleop keeps the defaults for both);
// checkEndpoints makes sure discovery agrees.
var (
	deviceAuthPath = op.DefaultEndpoints.DeviceAuthorization.Relative()
	tokenPath      = op.DefaultEndpoints.Token.Relative()
)

func (s *deviceStorage) checkEndpoints(p *Provider) error {
	base := strings.TrimSuffix(p.Issuer, "/")
	if p.DeviceEndpoint != base+deviceAuthPath || p.TokenEndpoint != base+tokenPath {
		return fmt.Errorf("device endpoint %s and token endpoint %s, want %s and %s", p.DeviceEndpoint, p.TokenEndpoint, base+deviceAuthPath, base+tokenPath)
	}
	return nil
}

// handler puts the device options into the device authorization response
// and records the device access token requests.
func (s *deviceStorage) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == deviceAuthPath && (s.interval > 0 || s.lifetime > 0):
			b := &bufferedResponse{ResponseWriter: w}
			next.ServeHTTP(b, r)
			if b.code() == http.StatusOK {
				b.body = s.announce(b.body)
			}
			b.flush()
		case r.URL.Path == tokenPath && r.Method == http.MethodPost && isDeviceGrant(r):
			at := time.Now()
			b := &bufferedResponse{ResponseWriter: w}
			next.ServeHTTP(b, r)
			var answer struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(b.body, &answer); err != nil || (answer.Error == "" && b.code() != http.StatusOK) {
				answer.Error = fmt.Sprintf("status %d: %.100q", b.code(), b.body)
			}
			s.mu.Lock()
			s.polls = append(s.polls, DevicePoll{At: at, Error: answer.Error})
			s.mu.Unlock()
			b.flush()
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// announce rewrites interval and expires_in in a device authorization
// response. RFC 8628 has both in whole seconds; they are rounded up.
func (s *deviceStorage) announce(body []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	if s.interval > 0 {
		m["interval"] = json.RawMessage(fmt.Sprint(ceilSeconds(s.interval)))
	}
	if s.lifetime > 0 {
		m["expires_in"] = json.RawMessage(fmt.Sprint(ceilSeconds(s.lifetime)))
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// isDeviceGrant reports whether a token request is a device access token
// request. It reads the form from a copy of the body, leaving r for zitadel
// to parse as if untouched.
func isDeviceGrant(r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil {
		return false
	}
	grant := r.URL.Query().Get("grant_type")
	if form, err := url.ParseQuery(string(body)); err == nil && form.Has("grant_type") {
		grant = form.Get("grant_type")
	}
	return grant == string(oidc.GrantTypeDeviceCode)
}

// bufferedResponse holds a handler's answer until flush, so a middleware
// can read or change it before the client sees any of it.
type bufferedResponse struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	b.body = append(b.body, p...)
	return len(p), nil
}

func (b *bufferedResponse) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *bufferedResponse) flush() {
	b.ResponseWriter.Header().Del("Content-Length")
	b.ResponseWriter.WriteHeader(b.code())
	b.ResponseWriter.Write(b.body)
}
