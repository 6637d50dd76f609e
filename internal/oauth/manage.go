package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Revocation is what Revoke did with an app's tokens.
type Revocation struct {
	// Revoked is set when the provider revoked the tokens: the app has a
	// revocation endpoint, and the provider accepted.
	Revoked bool
	// Forgotten is set when the app had tokens and they are gone here.
	Forgotten bool
	// Reason says why Revoked is false when Revoke did not fail: the app had
	// no token, or the provider was not told. "" when Revoked is set.
	Reason string
}

// Reasons of a Revocation that did not reach the provider.
const (
	reasonNoToken    = "the app has no token, so there was nothing to revoke"
	reasonNoEndpoint = "the app has no revocation endpoint, so the provider was not told: the token was forgotten here only; to end its access, remove the app on your account page at the provider"
)

// Revoke forgets the app's tokens, after revoking them at the provider
// (RFC 7009) when the app registered a revocation_endpoint: the refresh
// token first, as revoking it ends the whole grant at most providers.
// Without a revocation endpoint the provider is not told, and the tokens
// keep working there until they expire or the user removes the app on the
// provider's site: the Revocation says so. The tokens are forgotten here
// even when the provider cannot be reached; the error says so. The tokens
// go only to the revocation endpoint of the registration they were
// obtained under: a registration that moves it drops them (Register).
func (e *Engine) Revoke(ctx context.Context, skillID, appID string) (Revocation, error) {
	if err := checkIDs(skillID, appID); err != nil {
		return Revocation{}, err
	}
	id := MungedID(skillID, appID)
	unlock := e.locks.Lock(id)
	defer unlock()
	// Read under the lock: the token and the endpoint it goes to are of one
	// registration, never a token of a newer one sent to an older endpoint.
	app, err := e.App(skillID, appID)
	if err != nil {
		return Revocation{}, err
	}
	tok, err := e.currentToken(id) // an unsaved, rotated one is the live one
	if ErrorCode(err) == CodeNotAuthorized {
		return Revocation{Reason: reasonNoToken}, nil
	}
	if err != nil {
		return Revocation{}, err
	}
	var revokeErr error
	if app.RevocationEndpoint != "" {
		ctx, cancel := e.providerCall(ctx)
		defer cancel()
		if tok.RefreshToken != "" {
			revokeErr = e.revoke(ctx, app, tok.RefreshToken, "refresh_token")
		}
		if revokeErr == nil {
			revokeErr = e.revoke(ctx, app, tok.AccessToken, "access_token")
		}
	}
	if err := e.store.DeleteToken(id); err != nil {
		return Revocation{}, internalErr("delete the token", err)
	}
	e.sched.remove(job{jobRefresh, id})
	e.unsaved.set(id, nil)
	e.mirror("token", id, func(m Mirror) error { return m.DeleteToken(id) })
	if revokeErr != nil {
		e.logger.Warn("token forgotten, but revocation at the provider failed", "app", id, "err", revokeErr)
		return Revocation{Forgotten: true}, &Error{Code: CodeProviderUnavailable, Description: "the token was forgotten here, but the provider could not revoke it", Err: revokeErr}
	}
	if app.RevocationEndpoint == "" {
		e.logger.Info("token forgotten; the provider was not told: the app has no revocation endpoint", "app", id)
		return Revocation{Forgotten: true, Reason: reasonNoEndpoint}, nil
	}
	e.logger.Info("token revoked at the provider and forgotten", "app", id)
	return Revocation{Revoked: true, Forgotten: true}, nil
}

// revoke sends one RFC 7009 revocation request, authenticating the client
// as at the token endpoint.
func (e *Engine) revoke(ctx context.Context, app *App, token Secret, hint string) error {
	resp, _, err := e.postForm(ctx, app, app.RevocationEndpoint, url.Values{"token": {token.Reveal()}, "token_type_hint": {hint}})
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	// RFC 7009 §2.2: 200 whether or not the token was valid.
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered status %d", resp.StatusCode)
	}
	return nil
}

// Unregister forgets an app, its tokens and its pending logins. removed is
// false when there was no such app.
func (e *Engine) Unregister(ctx context.Context, skillID, appID string) (removed bool, err error) {
	if err := checkIDs(skillID, appID); err != nil {
		return false, err
	}
	id := MungedID(skillID, appID)
	unlock := e.locks.Lock(id)
	defer unlock()
	if app, err := e.store.App(id); err == nil && (app.SkillID != skillID || app.AppID != appID) {
		return false, nil // another skill's app under the same munged id
	}
	if err := e.store.DeleteApp(id); IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, internalErr("delete the app", err)
	}
	e.sched.remove(job{jobRefresh, id})
	e.unsaved.set(id, nil)
	e.mirror("app", id, func(m Mirror) error { return m.DeleteApp(id) })
	e.logger.Info("app unregistered", "app", id)
	return true, nil
}

// AppStatus is what oauth.status tells of an app: never a secret.
type AppStatus struct {
	MungedID    string
	SkillID     string
	AppID       string
	NeedsCreds  bool
	Authorized  bool
	Expiry      time.Time
	NeedsReauth bool
	// Flow is the kind of the app's pending login, "" when none.
	Flow FlowKind
	// Login is the app's login mode, RedirectURI the exact address to
	// register at the provider ("" for a device login).
	Login       string
	RedirectURI string
	// NextRefresh is when the timer next refreshes the token; zero when
	// none is planned.
	NextRefresh time.Time
	// LoginExpiry is when the login ends and a new one is needed (see
	// loginEnd); zero when it is not known to end.
	LoginExpiry time.Time
}

// statusOf reads the apps of skillID, all of them when it is "", with their
// tokens and pending logins. One skill's cost is that of its own apps.
func (e *Engine) statusOf(skillID string) ([]*App, map[string]*Token, []*Flow, error) {
	if skillID == "" {
		apps, err := e.store.Apps()
		if err != nil {
			return nil, nil, nil, internalErr("list the apps", err)
		}
		tokens, err := e.store.Tokens()
		if err != nil {
			return nil, nil, nil, internalErr("list the tokens", err)
		}
		flows, err := e.store.Flows()
		if err != nil {
			return nil, nil, nil, internalErr("list the logins", err)
		}
		return apps, tokens, flows, nil
	}
	apps, err := e.store.AppsOfSkill(skillID)
	if err != nil {
		return nil, nil, nil, internalErr("list the apps", err)
	}
	tokens := make(map[string]*Token, len(apps))
	var flows []*Flow
	for _, a := range apps {
		id := a.MungedID()
		tok, err := e.store.Token(id)
		switch {
		case err == nil:
			tokens[id] = tok
		case !IsNotFound(err):
			return nil, nil, nil, internalErr("read the token", err)
		}
		fs, err := e.store.FlowsOf(id)
		if err != nil {
			return nil, nil, nil, internalErr("list the logins", err)
		}
		flows = append(flows, fs...)
	}
	return apps, tokens, flows, nil
}

// Status lists the apps, only those of skillID when it is not empty.
func (e *Engine) Status(ctx context.Context, skillID string) ([]AppStatus, error) {
	if skillID != "" && !ValidID(skillID) {
		return nil, errorf(CodeInvalidRequest, "skill_id must be 1 to %d characters of letters, digits, '.', '_' or '-'", MaxIDLen)
	}
	apps, tokens, flows, err := e.statusOf(skillID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	byID := make(map[string]*App, len(apps))
	for _, a := range apps {
		byID[a.MungedID()] = a
	}
	// A login that can no longer finish (started under another
	// registration of its app) is not pending.
	pending := make(map[string]FlowKind)
	for _, f := range flows {
		if a := byID[f.MungedID]; a != nil && now.Before(e.flowExpires(f)) && f.Spent.IsZero() && f.startedUnder(a) {
			pending[f.MungedID] = f.Kind
		}
	}
	out := make([]AppStatus, 0, len(apps))
	for _, a := range apps {
		if skillID != "" && a.SkillID != skillID {
			continue
		}
		st := AppStatus{
			MungedID:    a.MungedID(),
			SkillID:     a.SkillID,
			AppID:       a.AppID,
			NeedsCreds:  a.NeedsCreds(),
			NeedsReauth: a.NeedsReauth,
			Flow:        pending[a.MungedID()],
			Login:       a.LoginMode(),
			RedirectURI: e.RedirectURI(a),
		}
		if tok, ok := tokens[a.MungedID()]; ok {
			tok = e.inFrame(a.MungedID(), tok)
			st.Authorized = !a.NeedsReauth
			st.Expiry = tok.Expiry
			st.NextRefresh, _ = e.sched.due(job{jobRefresh, a.MungedID()})
			st.LoginExpiry, _ = e.loginEnd(a, tok)
		}
		out = append(out, st)
	}
	return out, nil
}
