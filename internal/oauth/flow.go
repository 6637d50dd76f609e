package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// CallbackPath is where providers send the user's browser back, followed by
// the app's munged id.
const CallbackPath = "/auth/callback/"

// StartPath is the short login link QR codes carry, followed by a flow id.
const StartPath = "/auth/start/"

// RedirectURI returns the exact redirect URI the app's logins use, the
// one to register at the provider: in lan mode the one the app registered,
// else this device's callback URL for it; in relay mode the relay page; in
// loopback mode the callback URL at 127.0.0.1. A device login has none.
func (e *Engine) RedirectURI(app *App) string {
	switch app.LoginMode() {
	case LoginDevice:
		return ""
	case LoginRelay:
		if app.RelayURL != "" {
			return app.RelayURL
		}
		return e.RelayURL
	case LoginLoopback:
		return "http://" + net.JoinHostPort("127.0.0.1", e.port()) + CallbackPath + app.MungedID()
	}
	if app.RedirectURI != "" {
		return app.RedirectURI
	}
	return e.callbackURL(app)
}

// callbackURL is where phones on the LAN reach the app's callback.
func (e *Engine) callbackURL(app *App) string { return e.baseURL + CallbackPath + app.MungedID() }

// port is the callback server's port, from the base URL.
func (e *Engine) port() string {
	u, err := url.Parse(e.baseURL)
	if err != nil || u.Port() == "" {
		return "80"
	}
	return u.Port()
}

// FlowTag names a pending login in logs: the first 8 hex digits of the
// SHA-256 of its id. The id itself opens the login (the short link carries
// it), so it never reaches a log line; the tag tells one login's lines from
// another's and cannot be turned back into the id.
func FlowTag(flowID string) string {
	sum := sha256.Sum256([]byte(flowID))
	return hex.EncodeToString(sum[:4])
}

// relayTarget is the device's callback URL for the app as a relay login's
// state carries it to the relay page, which accepts only lowercase hosts:
// one spelling for each.
func (e *Engine) relayTarget(app *App) string {
	return strings.ToLower(e.baseURL) + CallbackPath + app.MungedID()
}

// RelayWarning says what to do when the app logs in through the relay page
// and the page would refuse to send a phone on to this device: every such
// login would end on the page's "This link cannot be used". It is "" when
// the page accepts the device's address, and for an app in another mode.
func (e *Engine) RelayWarning(app *App) string {
	if app.LoginMode() != LoginRelay || relay.Accepts(e.relayTarget(app)) {
		return ""
	}
	return e.relayRefusal()
}

// RelayRefusesHost reports whether the relay page would refuse to send a
// phone on to this device's address, whatever app logs in: for the
// daemon's relay_url at start.
func (e *Engine) RelayRefusesHost() bool {
	return !relay.Accepts(e.relayTarget(&App{SkillID: "skill", AppID: "app"}))
}

func (e *Engine) relayRefusal() string {
	host := e.baseURL
	if u, err := url.Parse(e.baseURL); err == nil {
		host = u.Hostname()
	}
	return fmt.Sprintf("the relay page will not send phones on to this device at %q (public_host): it sends them only to a private, link-local or loopback IP address, localhost, or a name ending in .local or .home.arpa, so every relay login would end on its page saying \"This link cannot be used\"; set public_host to this device's LAN IP address (such as 192.168.1.20) and restart ovos-oauth", host)
}

// StartLink returns the short link that sends a phone on to the flow's
// authorization URL, or for a loopback login to a page that explains how
// to finish it.
func (e *Engine) StartLink(f *Flow) string { return e.baseURL + StartPath + f.ID }

// StartFlow opens a pending login for an app in its login mode. For an
// authorization-code login (lan, relay, loopback) that is a random
// single-use state bound to the app, a PKCE verifier, and the authorization
// URL that carries them; for a device login, a device code from the
// provider, polled on the engine's timer until the user has entered it. A
// device login replaces the app's pending one.
func (e *Engine) StartFlow(ctx context.Context, skillID, appID string) (*Flow, *App, error) {
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, nil, err
	}
	if app.NeedsCreds() {
		return nil, app, errorf(CodeNeedsCredentials, "app %q has no client_id yet; enter it in ovos-shell or register one", app.MungedID())
	}
	if app.LoginMode() == LoginDevice {
		f, err := e.startDevice(ctx, app)
		return f, app, err
	}
	now := e.Now()
	f := &Flow{
		ID:          rand.Text(),
		Kind:        flowKind(app.LoginMode()),
		MungedID:    app.MungedID(),
		ClientID:    app.ClientID,
		TokenEnd:    app.TokenEndpoint,
		Binding:     app.binding(),
		State:       Secret(randomToken()),
		RedirectURI: e.RedirectURI(app),
		Created:     now,
		Expires:     now.Add(e.FlowTTL),
	}
	if f.RedirectURI == "" {
		return nil, app, errorf(CodeInvalidRequest, "app %q is in relay mode but no relay page is set", app.MungedID())
	}
	if f.Kind == FlowRelay {
		// The relay page finds the device in the state: the random part,
		// a dot, and the device's callback URL for the app.
		f.State += Secret("." + base64.RawURLEncoding.EncodeToString([]byte(e.relayTarget(app))))
	}
	opts := make([]oauth2.AuthCodeOption, 0, len(app.AuthParams)+2)
	if app.PKCE {
		f.Verifier = Secret(oauth2.GenerateVerifier())
		opts = append(opts, oauth2.S256ChallengeOption(f.Verifier.Reveal()))
	}
	for k, v := range app.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if scope := app.scope(); scope != "" {
		opts = append(opts, oauth2.SetAuthURLParam("scope", scope))
	}
	f.AuthURL = e.config(app, f.RedirectURI).AuthCodeURL(f.State.Reveal(), opts...)

	if err := e.store.PutFlow(f, e.FlowsPerApp); err != nil {
		return nil, nil, internalErr("save the login", err)
	}
	e.flowOpened(f.ID)
	e.links.opened(f.ID, f.Expires, now)
	e.logger.Info("login started", "app", f.MungedID, "flow", FlowTag(f.ID), "kind", f.Kind, "pkce", app.PKCE, "expires", f.Expires)
	e.observer().LoginStarted(app.LoginMode())
	return f, app, nil
}

// flowKind is the kind of an authorization-code login in a mode.
func flowKind(login string) FlowKind {
	switch login {
	case LoginRelay:
		return FlowRelay
	case LoginLoopback:
		return FlowLoopback
	}
	return FlowCode
}

// flowIDPattern is what rand.Text produces.
var flowIDPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// PendingFlow returns a pending login that has not expired, for the short
// link of its QR code. It does not consume the flow: a phone may open the
// link twice. A login whose state was spent is not pending: the link says
// it is being finished, or that it was interrupted.
func (e *Engine) PendingFlow(ctx context.Context, flowID string) (*Flow, error) {
	if !flowIDPattern.MatchString(flowID) {
		return nil, errorf(CodeInvalidState, "this login link is not valid")
	}
	f, err := e.store.Flow(flowID)
	if IsNotFound(err) {
		if outcome, seen := e.recent.outcome(flowID, "", e.Now()); seen && outcome == ended {
			return nil, errEnded()
		}
		return nil, e.goneLink(flowID)
	}
	if err != nil {
		return nil, internalErr("read the login", err)
	}
	if !f.Spent.IsZero() {
		return nil, e.spentError(f)
	}
	if !e.Now().Before(e.flowExpires(f)) {
		return nil, errLinkExpired()
	}
	return f, nil
}

// goneLink answers a short link whose login the store no longer holds:
// from what this run remembers of it, that its login finished, failed or
// expired; else that it is unknown.
func (e *Engine) goneLink(flowID string) *Error {
	now := e.Now()
	en, ok := e.links.lookup(flowID, now)
	switch {
	case ok && en.ended:
		return en.outcome.err()
	case ok && !now.Before(en.expires):
		return errLinkExpired()
	}
	return errorf(CodeInvalidState, "this login link is unknown or was already used")
}

func errLinkExpired() *Error {
	return errorf(CodeExpiredState, "this login link has expired; ask for a new one")
}

// Complete finishes an authorization-code login from the provider's answer,
// whichever way it arrived: the phone's request to the callback (landed
// empty), the URL ovos-shell's browser forwarded or the address a user
// pasted (landed is that URL without its query). Every way ends here.
//
// It checks before it spends: an answer that does not carry the state of a
// live login of this app, at that login's redirect URI, leaves every
// pending login as it was and tells no one (a forward of any other URL is
// CodeNotAnAnswer). Only then is the state consumed, the code exchanged with
// the flow's verifier and redirect URI, and the token stored and announced;
// a failure from then on is reported to the skill as oauth.token.error.
//
// It returns the app as the login left it, for the page that says which
// service was linked; the error says why no token was stored. The skill
// hears of the token from Events.
func (e *Engine) Complete(ctx context.Context, mungedID string, query url.Values, landed string) (*App, error) {
	return e.completeAnswer(ctx, "", mungedID, query, landed)
}

// CompleteFlow is Complete for an answer that may end only the pending
// login flowID: the one whose short link opened the page it was pasted on.
// The answer of another pending login, of this app or another, is refused
// before anything is spent (an *Error wrapping ErrOtherLogin), and that
// login goes on.
func (e *Engine) CompleteFlow(ctx context.Context, flowID, mungedID string, query url.Values, landed string) (*App, error) {
	return e.completeAnswer(ctx, flowID, mungedID, query, landed)
}

// completeAnswer runs Complete and CompleteFlow; flowID, when set, is the
// only login the answer may end.
func (e *Engine) completeAnswer(ctx context.Context, flowID, mungedID string, query url.Values, landed string) (*App, error) {
	// An unknown app is answered as a known one without a live state, so
	// that the callback does not list the registered apps to the LAN.
	if !ValidMungedID(mungedID) {
		return nil, errUnknownLogin()
	}
	app, err := e.app(mungedID)
	if ErrorCode(err) == CodeUnknownApp {
		return nil, errUnknownLogin()
	}
	if err != nil {
		return nil, err
	}
	spent, err := e.complete(ctx, app, query, landed, flowID)
	if err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			oe = internalErr("finish the login", err)
		}
		if spent {
			e.logger.Warn("login failed", "app", mungedID, "code", oe.Code, "err", oe.Err)
			e.observer().LoginFailed(app.LoginMode(), oe.Code)
			e.events.LoginFailed(app, oe)
		}
		return nil, oe
	}
	return app, nil
}

// complete runs Complete. spent is set when the answer consumed a live
// login of the app, so that its failure is the skill's to hear.
func (e *Engine) complete(ctx context.Context, app *App, query url.Values, landed, flowID string) (spent bool, err error) {
	// The addresses an answer may land on, before any state is looked at:
	// ovos-shell forwards every URL its browser shows that contains "code"
	// and "state", the authorization URL first.
	if landed != "" && !e.answersAt(app, landed, nil) {
		return false, errorf(CodeNotAnAnswer, "this address is not the app's redirect URI; the login goes on")
	}
	state, err := answerState(query)
	if err != nil {
		return false, err
	}
	// Counted before the state is spent, so that a daemon stopping neither
	// burns the user's code nor closes the store under the exchange.
	if !e.flights.begin() {
		return false, errorf(CodeProviderUnavailable, "ovos-oauth is stopping; start the login again")
	}
	defer e.flights.end()
	f, err := e.answeredFlow(app, state, landed, flowID)
	if err != nil {
		return false, err
	}
	// Spent durably before the code leaves: a run that dies during the
	// exchange leaves the login marked, for the next run to report.
	if f, err = e.store.SpendFlow(state, e.run, e.Now()); IsNotFound(err) {
		return false, e.unknownAnswer(state, app.MungedID()) // answered a moment ago, by the other way
	} else if err != nil {
		return false, internalErr("read the login", err)
	}
	// The state is spent: a repeat from now on, even during the exchange,
	// is answered as one; how this ends is recorded for it.
	e.recent.add(state, app.MungedID(), pending, e.Now())
	defer func() {
		outcome := failed
		if err == nil {
			outcome = completed // the token's write ended the flow
		}
		e.recent.add(state, app.MungedID(), outcome, e.Now())
		e.links.ended(f.ID, outcome, e.Now())
		if err != nil {
			// Reported now, so not to be reported as interrupted.
			if derr := e.store.DeleteFlow(f.ID); derr != nil && !IsNotFound(derr) {
				e.logger.Warn("failed login not deleted; the next start reports it as interrupted", "app", f.MungedID, "err", derr)
			}
		}
	}()
	if !e.Now().Before(e.flowExpires(f)) {
		return true, errorf(CodeExpiredState, "this login took too long; start it again")
	}
	if query.Has("error") {
		return true, providerDenied(query.Get("error"))
	}
	code := query.Get("code")
	if code == "" {
		return true, errorf(CodeInvalidRequest, "the provider's answer has no code")
	}
	return true, e.redeem(ctx, app, f, code)
}

// answerState returns the state of the provider's answer query.
func answerState(query url.Values) (string, error) {
	state := query.Get("state")
	if state == "" {
		if query.Has("error") {
			return "", errorf(CodeInvalidRequest, "the provider's answer has an error but no state")
		}
		return "", errorf(CodeInvalidRequest, "the provider's answer has no state")
	}
	if len(state) > maxStateLen {
		return "", errUnknownLogin()
	}
	return state, nil
}

// answeredFlow returns the pending login of app that state answers, if
// the answer may end it: not spent, of this app, of flowID when that is
// set, and landed at its redirect URI when landed is set.
func (e *Engine) answeredFlow(app *App, state, landed, flowID string) (*Flow, error) {
	f, err := e.store.FlowByState(state)
	if IsNotFound(err) {
		return nil, e.unknownAnswer(state, app.MungedID())
	}
	if err != nil {
		return nil, internalErr("read the login", err)
	}
	if f.MungedID != app.MungedID() || f.Kind == FlowDevice {
		return nil, errUnknownLogin()
	}
	if flowID != "" && subtle.ConstantTimeCompare([]byte(f.ID), []byte(flowID)) != 1 {
		return nil, &Error{Code: CodeInvalidState, Description: "that address is the answer to another login, not to this page's; paste it on the page where you pressed Log in for it", Err: ErrOtherLogin}
	}
	if landed != "" && !e.answersAt(app, landed, f) {
		return nil, errorf(CodeNotAnAnswer, "this address is not the login's redirect URI; the login goes on")
	}
	if !f.Spent.IsZero() {
		return nil, e.spentError(f)
	}
	return f, nil
}

// unknownAnswer is the error for an answer whose state names no pending
// login of the app mungedID: how its login ended, if it ended lately.
func (e *Engine) unknownAnswer(state, mungedID string) error {
	outcome, seen := e.recent.outcome(state, mungedID, e.Now())
	switch {
	case seen && outcome == ended:
		return errEnded()
	case seen:
		return outcome.err()
	}
	return errUnknownLogin()
}

// redeem exchanges code, the answer to f, a spent login of app, for a token
// and keeps it; app becomes the app as the login ended, for the page to
// name.
func (e *Engine) redeem(ctx context.Context, app *App, f *Flow, code string) error {
	unlock := e.locks.Lock(app.MungedID())
	defer unlock()
	// The app may have changed while the user was logging in.
	cur, err := e.app(app.MungedID())
	if err != nil {
		return err
	}
	if !f.startedUnder(cur) {
		return errRegisteredAgain()
	}

	var opts []oauth2.AuthCodeOption
	if f.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(f.Verifier.Reveal()))
	}
	// The phone may give up on the page; the exchange must still finish, or
	// the single-use code is wasted.
	ctx, cancel := e.providerCall(ctx)
	defer cancel()
	cfg := e.config(cur, f.RedirectURI)
	tok, err := e.retrieve(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		return cfg.Exchange(ctx, code, opts...)
	})
	if err != nil {
		return exchangeError(err)
	}
	if err := e.keep(cur, tok, "login", f.ID, "kind", f.Kind, "flow", FlowTag(f.ID)); err != nil {
		return err
	}
	*app = *cur
	return nil
}

// ErrOtherLogin is the cause of CompleteFlow's refusal of an answer that
// belongs to another pending login than the one it was bound to.
var ErrOtherLogin = errors.New("the answer belongs to another pending login")

// errUnknownLogin is the one answer to an answer that ends no login: an
// unknown app, an unknown, spent or another app's state.
func errUnknownLogin() *Error {
	return errorf(CodeInvalidState, "this login is unknown or was already used")
}

// errInterrupted is the answer about a login that a run of the daemon
// spent and died before it stored a token: to the skill at the next start,
// and to the phone's retries of its answer or link.
func errInterrupted() *Error {
	return errorf(CodeInterrupted, "the login was cut short: ovos-oauth stopped while it was finishing it; start the login again on your device")
}

// spentError answers a repeat of a spent login's answer or link: as one
// this run is finishing, or finished a moment ago, or as interrupted when
// a run that has ended spent it.
func (e *Engine) spentError(f *Flow) *Error {
	if f.SpentBy != e.run {
		return errInterrupted()
	}
	// Spent by this run: its outcome is recorded, or about to be.
	outcome, seen := e.recent.outcome(f.State.Reveal(), f.MungedID, e.Now())
	if !seen {
		outcome = pending
	}
	return outcome.err()
}

// reportInterrupted reports the logins among flows that a run that has
// ended spent and did not finish: it died between sending the code and
// storing the token, and nobody heard. Each is reported once, as
// oauth.token.error with code interrupted (the bus client holds the message
// until it is connected), then marked so that no later start reports it
// again and kept for FlowTTL, so that the phone's retry gets a page that
// says to start again. A mark that cannot be saved is logged; the next
// start reports the login again rather than never.
func (e *Engine) reportInterrupted(flows []*Flow) {
	now := e.Now()
	for _, f := range flows {
		if f.Spent.IsZero() || f.SpentBy == e.run || !f.Interrupted.IsZero() {
			continue
		}
		app, err := e.app(f.MungedID)
		if err != nil {
			e.logger.Warn("interrupted login not reported", "app", f.MungedID, "err", err)
			continue
		}
		oe := errInterrupted()
		e.logger.Warn("login interrupted: the last run stopped during its code exchange; the skill is told to start it again", "app", f.MungedID, "kind", f.Kind, "spent", f.Spent)
		e.observer().LoginFailed(app.LoginMode(), oe.Code)
		e.events.LoginFailed(app, oe)
		f.Interrupted, f.Expires = now, now.Add(e.FlowTTL)
		if err := e.store.PutFlow(f, 0); err != nil {
			e.logger.Warn("interrupted login not marked as reported; the next start reports it again", "app", f.MungedID, "err", err)
		}
	}
}

// errRegisteredAgain ends a login whose app was registered again with
// another client, endpoints or login mode since it began
// (Flow.startedUnder).
func errRegisteredAgain() *Error {
	return errorf(CodeInvalidState, "the app was registered again with another client, endpoints or login mode during the login; start it again")
}

// errEnded answers the link or the answer of a login that a change of the
// app's login mode ended (endOtherLogins).
func errEnded() *Error {
	return &Error{Code: CodeInvalidState, Description: "this login was ended: the app now logs in another way; start a new login on your device", Err: ErrLoginEnded}
}

// maxStateLen bounds a state read from outside: a relay state carries the
// device's callback URL.
const maxStateLen = 1024

// answersAt reports whether landed (a URL without query) is where an answer
// for the app may arrive: its redirect URI, or for a relay login the LAN
// callback the relay sends the phone on to. With a flow, the flow's own
// redirect URI counts, also when the app was registered again since.
func (e *Engine) answersAt(app *App, landed string, f *Flow) bool {
	uris := []string{e.RedirectURI(app)}
	if f != nil {
		uris = []string{f.RedirectURI}
	}
	if app.LoginMode() == LoginRelay || (f != nil && f.Kind == FlowRelay) {
		uris = append(uris, e.callbackURL(app))
	}
	for _, u := range uris {
		if u != "" && sameEndpoint(landed, u) {
			return true
		}
	}
	return false
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
// spent went, keyed by a hash of the state (no secret is kept); and which
// logins a change of login mode ended, by state and by the hash of the
// link's flow id (with no app: the link names none).
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
	ended     // by a change of the app's login mode; never spent
	setupDone // a setup whose credentials were saved
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

// err is the answer to a repeat of an answer or a link of a login that
// went so: already_answered, its cause saying how.
func (o loginOutcome) err() *Error {
	cause := ErrLoginFailed
	switch o {
	case pending:
		cause = ErrLoginFinishing
	case completed:
		cause = ErrLoginFinished
	case ended:
		return errEnded()
	case setupDone:
		return errSetupDone()
	}
	return &Error{Code: CodeAlreadyAnswered, Description: o.describe(), Err: cause}
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
