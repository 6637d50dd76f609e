package oauth

import (
	"context"
	"errors"
	"net/url"
	"reflect"
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
	for _, ep := range []struct {
		name, url string
		required  bool
	}{
		{"auth_endpoint", r.AuthEndpoint, true},
		{"token_endpoint", r.TokenEndpoint, true},
		{"device_endpoint", r.DeviceEndpoint, false},
		{"revocation_endpoint", r.RevocationEndpoint, false},
		{"redirect_uri", r.RedirectURI, false},
	} {
		if err := checkEndpoint(ep.name, ep.url, ep.required); err != nil {
			return err
		}
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
	if len(r.AuthParams) > 32 {
		return errorf(CodeInvalidRequest, "auth_params has too many entries")
	}
	for k, v := range r.AuthParams {
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

// Register creates or updates an app. Skills register on every start and on
// every oauth.ping, so registering the same app again changes nothing and
// writes nothing. Credentials the user typed in ovos-shell survive a
// registration that carries none; the app's token survives unless the client
// or the token endpoint changed.
func (e *Engine) Register(ctx context.Context, r Registration) (*App, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	login, err := e.loginMode(&r)
	if err != nil {
		return nil, err
	}
	id := MungedID(r.SkillID, r.AppID)
	unlock := e.locks.Lock(id)
	defer unlock()

	old, err := e.store.App(id)
	switch {
	case err == nil:
		if old.SkillID != r.SkillID || old.AppID != r.AppID {
			return nil, errorf(CodeConflict, "munged id %q is taken by skill %q, app %q", id, old.SkillID, old.AppID)
		}
	case IsNotFound(err):
		old = nil
	default:
		return nil, internalErr("read the app", err)
	}

	app := &App{
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
		Created:            e.Now(),
	}
	dropToken := false
	if old != nil {
		app.Created = old.Created
		if r.ClientID == "" && old.CredsFromUser {
			app.ClientID, app.ClientSecret, app.CredsFromUser = old.ClientID, old.ClientSecret, true
		}
		dropToken = app.ClientID != old.ClientID || app.TokenEndpoint != old.TokenEndpoint
		if !dropToken {
			app.NeedsReauth, app.ReauthReason = old.NeedsReauth, old.ReauthReason
		}
		app.Updated = old.Updated
		if sameApp(old, app) {
			// Nothing to store. The mirror is told all the same, as another
			// program may have dropped the entry: mirror.Writer compares it
			// with what it last wrote and touches the file only if the file
			// changed on disk since.
			e.mirror("app", id, func(m Mirror) error { return m.PutApp(old, e.RedirectURI(old)) })
			return old, nil
		}
	}
	app.Updated = e.Now()
	if err := e.store.PutApp(app, dropToken); err != nil {
		return nil, internalErr("save the app", err)
	}
	e.appChanged(app, dropToken)
	// Logged at info once per change, so the user can copy the exact
	// redirect URI to register at the provider.
	e.logger.Info("app registered", "app", id, "new", old == nil, "login", app.LoginMode(), "redirect_uri", e.RedirectURI(app),
		"needs_creds", app.NeedsCreds(), "token_dropped", dropToken)
	return app, nil
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

// CheckRelayURL accepts an absolute https URL without user info, query or
// fragment: providers compare redirect URIs exactly, and the relay page
// reads its own query.
func CheckRelayURL(raw string) error {
	if err := checkEndpoint("relay_url", raw, true); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	if u.Scheme != "https" || u.RawQuery != "" || u.ForceQuery {
		return errorf(CodeInvalidRequest, "relay_url must be an https URL without a query")
	}
	return nil
}

// SetCredentials stores a client id and secret the user typed in ovos-shell.
func (e *Engine) SetCredentials(ctx context.Context, skillID, appID, clientID string, secret Secret) (*App, error) {
	if err := checkIDs(skillID, appID); err != nil {
		return nil, err
	}
	if clientID == "" {
		return nil, errorf(CodeInvalidRequest, "client_id is required")
	}
	if err := checkText("client_id", clientID); err != nil {
		return nil, err
	}
	if err := checkText("client_secret", string(secret)); err != nil {
		return nil, err
	}
	id := MungedID(skillID, appID)
	unlock := e.locks.Lock(id)
	defer unlock()
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, err
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
