package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// Registration is what a skill sends in oauth.register.
type Registration struct {
	SkillID            string
	AppID              string
	ClientID           string
	ClientSecret       Secret
	AuthEndpoint       string
	TokenEndpoint      string
	DeviceEndpoint     string
	RevocationEndpoint string
	Scope              string
	ShellIntegration   bool
	TokenAuth          string
	PKCE               bool
	AuthParams         map[string]string
	RedirectURI        string
	// Login is the login mode; "" picks the default (see Register).
	Login string
	// RelayURL is the app's own relay page, overriding the daemon's.
	RelayURL       string
	ScopeSeparator string
	// Provider names a known provider (Providers) whose endpoints, login
	// mode and quirks fill what the registration leaves empty; InstanceURL
	// is the server of a self-hosted one (Home Assistant).
	Provider    string
	InstanceURL string
}

func (r *Registration) validate() error {
	if err := checkIDs(r.SkillID, r.AppID); err != nil {
		return err
	}
	if err := r.applyProvider(); err != nil {
		return err
	}
	if err := r.checkEndpoints(); err != nil {
		return err
	}
	if err := checkText("client_id", r.ClientID); err != nil {
		return err
	}
	if err := checkText("client_secret", string(r.ClientSecret)); err != nil {
		return err
	}
	if err := checkText("scope", r.Scope); err != nil {
		return err
	}
	if len(r.ScopeSeparator) > 4 {
		return errorf(CodeInvalidRequest, "scope_separator is too long")
	}
	if err := checkText("scope_separator", r.ScopeSeparator); err != nil {
		return err
	}
	if r.RelayURL != "" {
		if err := CheckRelayURL(r.RelayURL); err != nil {
			return err
		}
	}
	switch r.Login {
	case "", LoginLAN, LoginRelay, LoginLoopback:
	case LoginDevice:
		if r.DeviceEndpoint == "" {
			return errorf(CodeInvalidRequest, `login "device" needs device_endpoint`)
		}
	default:
		return errorf(CodeInvalidRequest, `login must be "lan", "relay", "loopback" or "device"`)
	}
	switch r.TokenAuth {
	case TokenAuthAuto, TokenAuthBasic, TokenAuthPost, TokenAuthNone:
	default:
		return errorf(CodeInvalidRequest, `token_auth must be "basic", "post" or "none"`)
	}
	return checkAuthParams(r.AuthParams)
}

// checkEndpoints checks the registration's URLs.
func (r *Registration) checkEndpoints() error {
	// A device login (RFC 8628) never opens the authorization endpoint.
	device := r.Login == LoginDevice || (r.Login == "" && r.DeviceEndpoint != "")
	for _, ep := range []struct {
		name, url string
		required  bool
	}{
		{"auth_endpoint", r.AuthEndpoint, !device},
		{"token_endpoint", r.TokenEndpoint, true},
		{"device_endpoint", r.DeviceEndpoint, false},
		{"revocation_endpoint", r.RevocationEndpoint, false},
		{"redirect_uri", r.RedirectURI, false},
	} {
		if err := checkEndpoint(ep.name, ep.url, ep.required); err != nil {
			return err
		}
	}
	return nil
}

// checkAuthParams checks the extra parameters of the authorization URL.
func checkAuthParams(params map[string]string) error {
	if len(params) > 32 {
		return errorf(CodeInvalidRequest, "auth_params has too many entries")
	}
	for k, v := range params {
		if reservedAuthParam(k) {
			return errorf(CodeInvalidRequest, "auth_params may not set %q", k)
		}
		if k == "" {
			return errorf(CodeInvalidRequest, "auth_params has an empty name")
		}
		if err := checkText("auth_params", k+v); err != nil {
			return err
		}
	}
	return nil
}

// Registered is what Register did.
type Registered struct {
	App *App
	// TokenDropped is set when the app had a token and the registration
	// changed its client or an endpoint a token would be sent to: the token
	// is forgotten (not revoked) and the user must log in again.
	TokenDropped bool
	// CredentialsDropped is set when the client id and secret the user typed
	// in ovos-shell were forgotten: the registration brought a client of its
	// own, or changed an endpoint they would be sent to.
	CredentialsDropped bool
}

// Register creates or updates an app. Skills register on every start and on
// every oauth.ping, so registering the same app again changes nothing and
// writes nothing.
//
// A token, a refresh token or a client secret goes only to the endpoints of
// the registration it was obtained or entered under. A registration that
// changes any of them (movedEndpoints) drops the app's token and the
// credentials the user typed, whoever sends it; otherwise the token
// survives unless the client changed, and typed credentials survive a
// registration that carries none. A client secret in the registration
// itself is the registrant's own and goes to its endpoints; a registration
// without one never inherits an earlier registration's.
func (e *Engine) Register(ctx context.Context, r Registration) (Registered, error) {
	if err := r.validate(); err != nil {
		return Registered{}, err
	}
	login, err := e.loginMode(&r)
	if err != nil {
		return Registered{}, err
	}
	id := MungedID(r.SkillID, r.AppID)
	unlock := e.locks.Lock(id)
	defer unlock()

	old, err := e.registered(id, r.SkillID, r.AppID)
	if err != nil {
		return Registered{}, err
	}
	app := r.app(login, e.Now())
	dropToken := false
	var changed []string
	if old != nil {
		changed = app.carryOver(old)
		dropToken = len(changed) > 0
		app.Updated = old.Updated
		if sameApp(old, app) {
			// Nothing to store. The mirror is told all the same, as another
			// program may have dropped the entry: mirror.Writer compares it
			// with what it last wrote and touches the file only if the file
			// changed on disk since.
			e.mirror("app", id, func(m Mirror) error { return m.PutApp(old, e.RedirectURI(old)) })
			return Registered{App: old}, nil
		}
	}
	res := Registered{App: app, CredentialsDropped: old != nil && old.CredsFromUser && !app.CredsFromUser}
	if dropToken {
		res.TokenDropped = e.hasToken(id)
	}
	app.Updated = e.Now()
	if err := e.store.PutApp(app, dropToken); err != nil {
		return Registered{}, internalErr("save the app", err)
	}
	e.appChanged(app, dropToken)
	if old != nil && old.LoginMode() != app.LoginMode() {
		e.endOtherLogins(app)
	}
	if len(changed) > 0 && (res.TokenDropped || res.CredentialsDropped) {
		// A skill's update may do this once; so does a bus client that tries
		// to have a token or a typed secret sent to a server of its own.
		e.logger.Warn("app registered again with another client or endpoints: its login was dropped", "app", id,
			"changed", changed, "token_dropped", res.TokenDropped, "credentials_dropped", res.CredentialsDropped)
	}
	// Logged at info once per change, so the user can copy the exact
	// redirect URI to register at the provider.
	e.logger.Info("app registered", "app", id, "new", old == nil, "login", app.LoginMode(), "redirect_uri", e.RedirectURI(app),
		"needs_creds", app.NeedsCreds(), "token_dropped", res.TokenDropped, "credentials_dropped", res.CredentialsDropped)
	return res, nil
}

// registered returns the app of skillID and appID, called id, as it is
// stored; nil if there is none.
func (e *Engine) registered(id, skillID, appID string) (*App, error) {
	old, err := e.store.App(id)
	switch {
	case err == nil:
		if old.SkillID != skillID || old.AppID != appID {
			return nil, errorf(CodeConflict, "munged id %q is taken by skill %q, app %q", id, old.SkillID, old.AppID)
		}
		return old, nil
	case IsNotFound(err):
		return nil, nil
	default:
		return nil, internalErr("read the app", err)
	}
}

// app returns the app r registers, created at now, logging in by login.
func (r *Registration) app(login string, now time.Time) *App {
	return &App{
		SkillID:            r.SkillID,
		AppID:              r.AppID,
		ClientID:           r.ClientID,
		ClientSecret:       r.ClientSecret,
		AuthEndpoint:       r.AuthEndpoint,
		TokenEndpoint:      r.TokenEndpoint,
		DeviceEndpoint:     r.DeviceEndpoint,
		RevocationEndpoint: r.RevocationEndpoint,
		Scope:              r.Scope,
		ShellIntegration:   r.ShellIntegration,
		TokenAuth:          r.TokenAuth,
		PKCE:               r.PKCE,
		AuthParams:         r.AuthParams,
		RedirectURI:        r.RedirectURI,
		Login:              login,
		RelayURL:           r.RelayURL,
		ScopeSeparator:     r.ScopeSeparator,
		Provider:           r.Provider,
		Created:            now,
	}
}

// carryOver keeps in app, which registers old's app again, what stays of
// old: its creation time, and while neither an endpoint nor the client
// changes, the credentials the user typed (if app brings none) and its
// need of a new login. It returns what changed.
func (app *App) carryOver(old *App) (changed []string) {
	app.Created = old.Created
	changed = movedEndpoints(old, app)
	if app.ClientID == "" && old.CredsFromUser && len(changed) == 0 {
		app.ClientID, app.ClientSecret, app.CredsFromUser = old.ClientID, old.ClientSecret, true
	}
	if app.ClientID != old.ClientID {
		changed = append(changed, "client_id")
	}
	if len(changed) == 0 {
		app.NeedsReauth, app.ReauthReason = old.NeedsReauth, old.ReauthReason
	}
	return changed
}

// endOtherLogins ends the app's pending logins that its former login mode
// started: the app no longer logs in that way (startedUnder refuses their
// answers), so their links say the login was ended, status shows none, and
// a device login's polls stop. Nothing is reported to the skill, as for a
// login a newer one replaced. A login whose answer is being exchanged is
// left to that, which startedUnder ends. A login not deleted here still
// cannot finish.
func (e *Engine) endOtherLogins(app *App) {
	id := app.MungedID()
	flows, err := e.store.FlowsOf(id)
	if err != nil {
		e.logger.Warn("pending logins of the former login mode not ended; they cannot finish", "app", id, "err", err)
		return
	}
	now := e.Now()
	for _, f := range flows {
		if f.Kind == app.flowKind() || !f.Spent.IsZero() {
			continue
		}
		if err := e.store.DeleteFlow(f.ID); err != nil && !IsNotFound(err) {
			e.logger.Warn("pending login of the former login mode not ended; it cannot finish", "app", id, "flow", FlowTag(f.ID), "err", err)
			continue
		}
		if f.Kind == FlowDevice {
			e.sched.remove(job{jobPoll, f.ID})
		}
		// The link and the answer say what became of the login.
		e.recent.add(f.ID, "", ended, now)
		if f.State != "" {
			e.recent.add(f.State.Reveal(), id, ended, now)
		}
		e.logger.Info("pending login ended: the app now logs in another way", "app", id, "flow", FlowTag(f.ID), "kind", f.Kind, "login", app.LoginMode())
	}
}

// movedEndpoints names the endpoints that receive an app's tokens or client
// secret, or the user's login, whose registration changed: the token
// endpoint (logins and refreshes), the revocation and device endpoints, and
// the authorization endpoint's origin (another origin is another provider).
// Endpoints are compared as provider presets resolved them.
func movedEndpoints(old, app *App) []string {
	var moved []string
	for _, ep := range []struct{ name, old, new string }{
		{"token_endpoint", old.TokenEndpoint, app.TokenEndpoint},
		{"revocation_endpoint", old.RevocationEndpoint, app.RevocationEndpoint},
		{"device_endpoint", old.DeviceEndpoint, app.DeviceEndpoint},
	} {
		if ep.old != ep.new {
			moved = append(moved, ep.name)
		}
	}
	if old.AuthEndpoint != app.AuthEndpoint && origin(old.AuthEndpoint) != origin(app.AuthEndpoint) {
		moved = append(moved, "auth_endpoint")
	}
	return moved
}

// origin is a URL's scheme and host (with its port), lowercased; the URL
// itself when it does not parse, so that two such differ.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// binding fingerprints what decides where the app's secrets go: its client
// and the endpoints movedEndpoints compares. A pending login carries its
// app's, and is finished only under the same.
func (a *App) binding() string {
	h := sha256.New()
	for _, v := range []string{a.ClientID, a.TokenEndpoint, a.RevocationEndpoint, a.DeviceEndpoint, origin(a.AuthEndpoint)} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// hasToken reports whether the app has a token, stored or refreshed and not
// saved yet. One that cannot be read counts: it is there, and dropping it is
// what the caller reports.
func (e *Engine) hasToken(id string) bool {
	if e.unsaved.get(id) != nil {
		return true
	}
	_, err := e.store.Token(id)
	return !IsNotFound(err)
}

// loginMode resolves a registration's login mode: the one it names (or its
// provider's), else device when it has a device endpoint, else relay when a
// relay page is known, else lan.
func (e *Engine) loginMode(r *Registration) (string, error) {
	login := r.Login
	switch {
	case login != "":
	case r.DeviceEndpoint != "":
		login = LoginDevice
	case r.RelayURL != "" || e.RelayURL != "":
		login = LoginRelay
	default:
		login = LoginLAN
	}
	if login == LoginRelay && r.RelayURL == "" && e.RelayURL == "" {
		return "", errorf(CodeInvalidRequest, `login "relay" needs a relay page: relay_url in the registration or the daemon's relay_url setting`)
	}
	return login, nil
}

// CheckRelayURL accepts what the relay page can be served at
// (relay.CheckPageURL): providers compare redirect URIs exactly, and the
// relay page reads its own query.
func CheckRelayURL(raw string) error {
	if raw == "" {
		return errorf(CodeInvalidRequest, "relay_url is required")
	}
	if len(raw) > maxFieldLen {
		return errorf(CodeInvalidRequest, "relay_url is too long")
	}
	if err := relay.CheckPageURL(raw); err != nil {
		return errorf(CodeInvalidRequest, "relay_url %v", err)
	}
	return nil
}

// SetCredentials stores a client id and secret the user typed in ovos-shell
// or on the setup page (FinishSetup): sealed with the app, kept by later
// registrations without credentials (Register).
func (e *Engine) SetCredentials(ctx context.Context, skillID, appID, clientID string, secret Secret) (*App, error) {
	return e.setCredentials(skillID, appID, clientID, secret, nil)
}

// ErrCredentials is the cause of the error refusing a client id or secret
// that cannot be one: none, too long, or with a control character.
var ErrCredentials = errors.New("the client id or secret is not valid")

// checkCredentials refuses what cannot be a client id and secret, before
// anything is stored or spent.
func checkCredentials(clientID string, secret Secret) error {
	err := checkText("client_id", clientID)
	if clientID == "" {
		err = errorf(CodeInvalidRequest, "client_id is required")
	}
	if err == nil {
		err = checkText("client_secret", string(secret))
	}
	if oe, ok := errors.AsType[*Error](err); ok {
		oe.Err = ErrCredentials
		return oe
	}
	return err
}

// setCredentials runs SetCredentials; still, if set, is called with the
// app under its lock before anything is saved, and its error saves
// nothing.
func (e *Engine) setCredentials(skillID, appID, clientID string, secret Secret, still func(*App) error) (*App, error) {
	if err := checkIDs(skillID, appID); err != nil {
		return nil, err
	}
	if err := checkCredentials(clientID, secret); err != nil {
		return nil, err
	}
	id := MungedID(skillID, appID)
	unlock := e.locks.Lock(id)
	defer unlock()
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, err
	}
	if still != nil {
		if err := still(app); err != nil {
			return nil, err
		}
	}
	dropToken := app.ClientID != clientID
	app.ClientID, app.ClientSecret, app.CredsFromUser = clientID, secret, true
	if dropToken {
		app.NeedsReauth, app.ReauthReason = false, ""
	}
	app.Updated = e.Now()
	if err := e.store.PutApp(app, dropToken); err != nil {
		return nil, internalErr("save the credentials", err)
	}
	e.appChanged(app, dropToken)
	e.logger.Info("credentials set by user", "app", id, "token_dropped", dropToken)
	return app, nil
}

// appChanged follows a saved app into the schedule and the mirror.
func (e *Engine) appChanged(app *App, droppedToken bool) {
	id := app.MungedID()
	if droppedToken {
		e.sched.remove(job{jobRefresh, id})
		e.unsaved.set(id, nil)
		e.mirror("token", id, func(m Mirror) error { return m.DeleteToken(id) })
	}
	e.mirror("app", id, func(m Mirror) error { return m.PutApp(app, e.RedirectURI(app)) })
}

// sameApp compares two apps ignoring timestamps.
func sameApp(a, b *App) bool {
	x, y := *a, *b
	x.Created, x.Updated = y.Created, y.Updated
	if len(x.AuthParams) == 0 && len(y.AuthParams) == 0 {
		x.AuthParams, y.AuthParams = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

// IsNotFound reports whether err is or wraps ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
