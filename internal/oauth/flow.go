package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// CallbackPath is where providers send the user's browser back, followed by
// the app's munged id.
const CallbackPath = "/auth/callback/"

// StartPath is the short login link QR codes carry, followed by a flow id.
const StartPath = "/auth/start/"

// RedirectURI returns the redirect URI the app's logins use: the one it
// registered, else this device's callback URL for it.
func (e *Engine) RedirectURI(app *App) string {
	if app.RedirectURI != "" {
		return app.RedirectURI
	}
	return e.baseURL + CallbackPath + app.MungedID()
}

// StartLink returns the short link that sends a phone on to the flow's
// authorization URL.
func (e *Engine) StartLink(f *Flow) string { return e.baseURL + StartPath + f.ID }

// StartFlow opens a pending authorization-code login for an app: a random
// single-use state bound to the app, a PKCE verifier, and the authorization
// URL that carries them.
func (e *Engine) StartFlow(ctx context.Context, skillID, appID string) (*Flow, *App, error) {
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, nil, err
	}
	if app.NeedsCreds() {
		return nil, app, errorf(CodeNeedsCredentials, "app %q has no client_id yet; enter it in ovos-shell or register one", app.MungedID())
	}
	now := e.Now()
	f := &Flow{
		ID:          rand.Text(),
		Kind:        FlowCode,
		MungedID:    app.MungedID(),
		ClientID:    app.ClientID,
		TokenEnd:    app.TokenEndpoint,
		State:       Secret(randomToken()),
		RedirectURI: e.RedirectURI(app),
		Created:     now,
		Expires:     now.Add(e.FlowTTL),
	}
	opts := make([]oauth2.AuthCodeOption, 0, len(app.AuthParams)+1)
	if app.PKCE {
		f.Verifier = Secret(oauth2.GenerateVerifier())
		opts = append(opts, oauth2.S256ChallengeOption(f.Verifier.Reveal()))
	}
	for k, v := range app.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	f.AuthURL = e.config(app, f.RedirectURI).AuthCodeURL(f.State.Reveal(), opts...)

	if err := e.store.PutFlow(f, e.FlowsPerApp); err != nil {
		return nil, nil, internalErr("save the login", err)
	}
	e.logger.Info("login started", "app", f.MungedID, "flow", f.ID, "pkce", app.PKCE, "expires", f.Expires)
	return f, app, nil
}

// flowIDPattern is what rand.Text produces.
var flowIDPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// FlowURL returns the authorization URL of a pending flow, for the short
// link. It does not consume the flow: a phone may open the link twice.
func (e *Engine) FlowURL(ctx context.Context, flowID string) (string, error) {
	if !flowIDPattern.MatchString(flowID) {
		return "", errorf(CodeInvalidState, "this login link is not valid")
	}
	f, err := e.store.Flow(flowID)
	if IsNotFound(err) {
		return "", errorf(CodeInvalidState, "this login link is unknown or was already used")
	}
	if err != nil {
		return "", internalErr("read the login", err)
	}
	if !e.Now().Before(f.Expires) {
		return "", errorf(CodeExpiredState, "this login link has expired; ask for a new one")
	}
	return f.AuthURL, nil
}

// Complete finishes a login from the query of the provider's redirect to
// the app's callback: it checks and consumes the state, exchanges the code
// with the flow's verifier and redirect URI, stores the token and tells
// Events. landed, when not empty, is the URL (without query) the browser was
// sent to; it must be the flow's redirect URI.
//
// The app is returned whenever it is known, with or without an error, so the
// caller can report a failure against it.
func (e *Engine) Complete(ctx context.Context, mungedID string, query url.Values, landed string) (*App, *Token, error) {
	if !ValidMungedID(mungedID) {
		return nil, nil, errorf(CodeUnknownApp, "no such app")
	}
	app, err := e.app(mungedID)
	if err != nil {
		return nil, nil, err
	}
	tok, repeat, err := e.complete(ctx, app, query, landed)
	if err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			oe = internalErr("finish the login", err)
		}
		if repeat {
			return app, nil, oe // reported the first time
		}
		e.logger.Warn("login failed", "app", mungedID, "code", oe.Code, "err", oe.Err)
		e.Events.LoginFailed(app, oe)
		return app, nil, oe
	}
	e.logger.Info("login completed", "app", mungedID, "expires", tok.Expiry, "refreshable", tok.RefreshToken != "")
	e.Events.TokenIssued(app, tok)
	return app, tok, nil
}

// complete runs Complete. repeat is set when the state was spent on this
// app a moment ago (ovos-shell's browser loaded the callback and forwarded
// it too): the repeat is refused like any used state, but not reported to
// the skill again, which already heard how the login ended.
func (e *Engine) complete(ctx context.Context, app *App, query url.Values, landed string) (tok *Token, repeat bool, err error) {
	state := query.Get("state")
	if state == "" {
		if query.Has("error") {
			return nil, false, providerDenied(query.Get("error"))
		}
		return nil, false, errorf(CodeInvalidRequest, "the provider's answer has no state")
	}
	if len(state) > 512 {
		return nil, false, errorf(CodeInvalidState, "this login is unknown or was already used")
	}
	// Counted before the state is spent, so that a daemon stopping neither
	// burns the user's code nor closes the store under the exchange.
	if !e.flights.begin() {
		return nil, false, errorf(CodeProviderUnavailable, "ovos-oauth is stopping; start the login again")
	}
	defer e.flights.end()
	f, err := e.store.TakeFlow(state)
	if IsNotFound(err) {
		if outcome, seen := e.recent.outcome(state, app.MungedID(), e.Now()); seen {
			return nil, true, &Error{Code: CodeAlreadyAnswered, Description: outcome.describe()}
		}
		return nil, false, errorf(CodeInvalidState, "this login is unknown or was already used")
	}
	if err != nil {
		return nil, false, internalErr("read the login", err)
	}
	// The state is spent: a repeat from now on, even during the exchange,
	// is answered as one; how this ends is recorded for it.
	e.recent.add(state, app.MungedID(), pending, e.Now())
	defer func() {
		outcome := failed
		if err == nil {
			outcome = completed
		}
		e.recent.add(state, app.MungedID(), outcome, e.Now())
	}()
	if f.MungedID != app.MungedID() {
		return nil, false, errorf(CodeInvalidState, "this login belongs to another app")
	}
	if !e.Now().Before(f.Expires) {
		return nil, false, errorf(CodeExpiredState, "this login took too long; start it again")
	}
	if landed != "" && !sameEndpoint(landed, f.RedirectURI) {
		return nil, false, errorf(CodeInvalidRequest, "the browser landed on another address than this login's redirect URI")
	}
	if query.Has("error") {
		return nil, false, providerDenied(query.Get("error"))
	}
	code := query.Get("code")
	if code == "" {
		return nil, false, errorf(CodeInvalidRequest, "the provider's answer has no code")
	}

	unlock := e.locks.Lock(app.MungedID())
	defer unlock()
	// The app may have changed while the user was logging in.
	cur, err := e.app(app.MungedID())
	if err != nil {
		return nil, false, err
	}
	if cur.ClientID != f.ClientID || cur.TokenEndpoint != f.TokenEnd {
		return nil, false, errorf(CodeInvalidState, "the app was registered again with another client during the login; start it again")
	}

	var opts []oauth2.AuthCodeOption
	if f.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(f.Verifier.Reveal()))
	}
	// The phone may give up on the page; the exchange must still finish, or
	// the single-use code is wasted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.HTTPClient.Timeout+time.Second)
	defer cancel()
	cfg := e.config(cur, f.RedirectURI)
	tok, err = e.retrieve(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		return cfg.Exchange(ctx, code, opts...)
	})
	if err != nil {
		return nil, false, exchangeError(err)
	}
	if cur.NeedsReauth {
		cur.NeedsReauth, cur.ReauthReason, cur.Updated = false, "", e.Now()
		if err := e.store.PutApp(cur, false); err != nil {
			return nil, false, internalErr("save the app", err)
		}
	}
	if err := e.store.PutToken(cur.MungedID(), tok); err != nil {
		return nil, false, internalErr("save the token", err)
	}
	e.unsaved.set(cur.MungedID(), nil)
	e.planRefresh(cur.MungedID(), tok)
	e.mirror("token", cur.MungedID(), func(m Mirror) error { return m.PutToken(cur, tok) })
	*app = *cur
	return tok, false, nil
}

// providerDenied maps an authorization error response (RFC 6749 §4.1.2.1).
// The provider's own text is not passed on: it reaches a browser and the bus.
func providerDenied(code string) *Error {
	switch code {
	case "access_denied":
		return errorf(CodeAccessDenied, "the login was refused or cancelled")
	case "temporarily_unavailable", "server_error":
		return errorf(CodeProviderUnavailable, "the provider could not complete the login right now; try again later")
	default:
		return errorf(CodeAccessDenied, "the provider refused the login")
	}
}

// exchangeError maps a token endpoint failure.
func exchangeError(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return &Error{Code: CodeProviderUnavailable, Description: "the provider's token endpoint failed; try again later", Err: redactedRetrieveError(re)}
		}
		return &Error{Code: CodeExchangeFailed, Description: "the provider refused to issue a token for this login", Err: redactedRetrieveError(re)}
	}
	return &Error{Code: CodeProviderUnavailable, Description: "the provider's token endpoint could not be reached", Err: err}
}

// sameEndpoint compares two URLs by scheme, host and path.
func sameEndpoint(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) && ua.EscapedPath() == ub.EscapedPath()
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// recentStates remembers, for a few minutes, how logins whose state was
// spent went, keyed by a hash of the state (no secret is kept).
type recentStates struct {
	mu      sync.Mutex
	entries map[[32]byte]recentEntry
}

// loginOutcome is where a spent login is: being exchanged, or done.
type loginOutcome int

const (
	pending loginOutcome = iota
	completed
	failed
)

func (o loginOutcome) describe() string {
	switch o {
	case pending:
		return "this login is being finished; go back to your device"
	case completed:
		return "you are logged in already; this page can be closed"
	}
	return "this login was already answered; start it again on your device"
}

type recentEntry struct {
	mungedID string
	outcome  loginOutcome
	at       time.Time
}

const recentFor = 5 * time.Minute

func (r *recentStates) add(state, mungedID string, outcome loginOutcome, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = make(map[[32]byte]recentEntry)
	}
	for k, en := range r.entries {
		if now.Sub(en.at) > recentFor {
			delete(r.entries, k)
		}
	}
	r.entries[sha256.Sum256([]byte(state))] = recentEntry{mungedID, outcome, now}
}

// outcome tells whether state was spent on mungedID lately, and how it went.
func (r *recentStates) outcome(state, mungedID string, now time.Time) (loginOutcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	en, found := r.entries[sha256.Sum256([]byte(state))]
	if !found || en.mungedID != mungedID || now.Sub(en.at) > recentFor {
		return 0, false
	}
	return en.outcome, true
}
