package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
)

// A setup is how an app registered without a client id gets one from a
// phone. Its QR code leads to a page that says how to make an app at the
// provider and takes the client id and secret made there; saving them goes
// on into the app's login. A setup is a pending flow of its own kind
// (FlowSetup), so that its short link behaves as a login's: it lives
// FlowTTL, is spent once, and a link opened again once it is gone says
// what became of it. Its page's form must post back the setup's random
// key.

// ErrSetupForm is the cause of the refusal of a setup form that does not
// carry its setup's key.
var ErrSetupForm = errors.New("the form is not the setup's own")

// ErrSetupDone is the cause of the already_answered error that answers the
// link, or a post, of a setup that was used.
var ErrSetupDone = errors.New("the setup was used: the app's credentials are saved")

func errSetupDone() *Error {
	return &Error{Code: CodeAlreadyAnswered, Description: "this setup link was used: the app's client id is saved; if the login did not go on, start it again on your device", Err: ErrSetupDone}
}

// Setup is what a setup page shows.
type Setup struct {
	Flow *Flow
	App  *App
	// RedirectURI is the exact address to register at the provider, as
	// oauth.register.response gives it; "" for a device login.
	RedirectURI string
	// Provider is the app's known provider, by the name its registration
	// gave or its token endpoint; the zero Provider for another.
	Provider Provider
}

// StartSetup opens a setup for an app: a random key for its form, valid for
// FlowTTL, bound to the app's endpoints and redirect URI as they are now.
// It is for an app that needs credentials; one that has them may be given
// others, as ovos-shell's form may.
func (e *Engine) StartSetup(ctx context.Context, skillID, appID string) (*Flow, *App, error) {
	app, err := e.App(skillID, appID)
	if err != nil {
		return nil, nil, err
	}
	now := e.Now()
	f := &Flow{
		ID:          rand.Text(),
		Kind:        FlowSetup,
		MungedID:    app.MungedID(),
		TokenEnd:    app.TokenEndpoint,
		Binding:     app.endpointsBinding(),
		SetupKey:    Secret(randomToken()),
		RedirectURI: e.RedirectURI(app),
		Created:     now,
		Expires:     now.Add(e.FlowTTL),
	}
	if err := e.store.PutFlow(f, e.FlowsPerApp); err != nil {
		return nil, nil, internalErr("save the setup", err)
	}
	e.links.opened(f.ID, f.Expires, now)
	e.logger.Info("setup started: the app's QR code leads to a page that takes its client id", "app", f.MungedID, "flow", FlowTag(f.ID), "login", app.LoginMode(), "expires", f.Expires)
	return f, app, nil
}

// PendingSetup returns the setup of a short link, for its page: not
// expired, not used, and made for the app as it is registered now.
func (e *Engine) PendingSetup(ctx context.Context, flowID string) (*Setup, error) {
	f, err := e.PendingFlow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	if f.Kind != FlowSetup {
		return nil, errorf(CodeInvalidState, "this link is a login's, not a setup's")
	}
	app, err := e.app(f.MungedID)
	if err != nil {
		return nil, err
	}
	if !f.setsUp(e, app) {
		return nil, errRegisteredAgain()
	}
	p, _ := app.knownProvider()
	return &Setup{Flow: f, App: app, RedirectURI: f.RedirectURI, Provider: p}, nil
}

// FinishSetup saves the client id and secret posted on a setup's page, as
// SetCredentials saves ovos-shell's, and opens the app's login in its mode,
// which it returns. The post must carry the setup's key (compared in
// constant time), and the setup must be pending and made for the app as it
// is registered now; the setup is spent under the app's lock, just before
// the credentials are saved, so that of two posts one saves. A refused
// post saves nothing and, but when the setup was spent, leaves the setup
// pending; what it refuses as no client id or secret is an *Error wrapping
// ErrCredentials, a wrong key one wrapping ErrSetupForm.
func (e *Engine) FinishSetup(ctx context.Context, flowID, key, clientID string, secret Secret) (*Flow, *App, error) {
	st, err := e.PendingSetup(ctx, flowID)
	if err != nil {
		return nil, nil, err
	}
	f := st.Flow
	if f.SetupKey == "" || subtle.ConstantTimeCompare([]byte(f.SetupKey.Reveal()), []byte(key)) != 1 {
		return nil, st.App, &Error{Code: CodeInvalidRequest, Description: "this form is not the setup's own; open the setup link again", Err: ErrSetupForm}
	}
	app, err := e.setCredentials(st.App.SkillID, st.App.AppID, clientID, secret, func(app *App) error {
		// The page said where the secret goes, and what to register
		// there: a registration that moved either since gets nothing.
		if !f.setsUp(e, app) {
			return errRegisteredAgain()
		}
		if err := e.store.DeleteFlow(f.ID); IsNotFound(err) {
			return errSetupDone() // a post a moment ago
		} else if err != nil {
			return internalErr("spend the setup", err)
		}
		e.links.ended(f.ID, setupDone, e.Now())
		return nil
	})
	if err != nil {
		return nil, st.App, err
	}
	e.logger.Info("setup used: the client id typed on the phone is saved; the login goes on", "app", app.MungedID(), "flow", FlowTag(f.ID))
	return e.StartFlow(ctx, app.SkillID, app.AppID)
}

// setsUp reports whether the setup was made for the app as it is: the same
// endpoints (where the secret will go) and the same redirect URI (what the
// page told the user to register).
func (f *Flow) setsUp(e *Engine, app *App) bool {
	return f.Kind == FlowSetup && f.TokenEnd == app.TokenEndpoint && f.Binding == app.endpointsBinding() && f.RedirectURI == e.RedirectURI(app)
}

// endpointsBinding is the app's binding whatever its client id: a setup
// may overwrite the credentials typed meanwhile, never follow endpoints
// that moved.
func (a *App) endpointsBinding() string {
	c := *a
	c.ClientID = ""
	return c.binding()
}
