package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// deviceGrant is the grant type of a device login's token requests
// (RFC 8628 §3.4).
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// deviceAuthResponse is a device authorization answer (RFC 8628 §3.2).
// Google names the verification URI verification_url.
type deviceAuthResponse struct {
	DeviceCode              string      `json:"device_code"`
	UserCode                string      `json:"user_code"`
	VerificationURI         string      `json:"verification_uri"`
	VerificationURL         string      `json:"verification_url"`
	VerificationURIComplete string      `json:"verification_uri_complete"`
	ExpiresIn               json.Number `json:"expires_in"`
	Interval                json.Number `json:"interval"`
}

// startDevice asks the provider for a device code and stores the pending
// device login, replacing the app's pending one, with its first poll on the
// timer.
func (e *Engine) startDevice(ctx context.Context, app *App) (*Flow, error) {
	form := url.Values{}
	if scope := app.scope(); scope != "" {
		form.Set("scope", scope)
	}
	ctx, cancel := e.providerCall(ctx)
	defer cancel()
	now := e.Now()
	resp, body, err := e.postForm(ctx, app, app.DeviceEndpoint, form)
	if err != nil {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint could not be reached", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		re := retrieveError(resp, body)
		if resp.StatusCode >= 500 {
			return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint failed; try again later", Err: redactedRetrieveError(re)}
		}
		return nil, &Error{Code: CodeExchangeFailed, Description: "the provider refused to start a device login for this app", Err: redactedRetrieveError(re)}
	}
	f, err := e.deviceFlow(app, body, now)
	if err != nil {
		return nil, err
	}
	if err := e.store.PutFlow(f, 1); err != nil {
		return nil, internalErr("save the login", err)
	}
	e.sched.set(job{jobPoll, f.ID}, now.Add(f.Interval))
	e.logger.Info("device login started", "app", f.MungedID, "flow", FlowTag(f.ID), "verification_uri", f.VerificationURI, "interval", f.Interval, "expires", f.Expires)
	e.observer().LoginStarted(LoginDevice)
	return f, nil
}

// deviceFlow reads a device authorization answer into a pending login.
func (e *Engine) deviceFlow(app *App, body []byte, now time.Time) (*Flow, error) {
	var da deviceAuthResponse
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint answered something that is not a device code", Err: errors.New("device authorization answer is not JSON of RFC 8628 §3.2")}
	}
	if da.VerificationURI == "" {
		da.VerificationURI = da.VerificationURL
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint answered without a device code, user code or verification URI", Err: errors.New("incomplete device authorization answer")}
	}
	// The verification URIs go into QR codes and ovos-shell's browser.
	for _, u := range []string{da.VerificationURI, da.VerificationURIComplete} {
		if u == "" {
			continue
		}
		if err := checkEndpoint("verification_uri", u, false); err != nil {
			return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's verification URI is not an http(s) URL", Err: err}
		}
	}
	if err := checkText("user_code", da.UserCode); err != nil || len(da.UserCode) > 64 {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's user code is not printable", Err: errors.New("bad user_code")}
	}
	interval := e.PollInterval
	if n, err := da.Interval.Int64(); err == nil && n > 0 {
		interval = time.Duration(min(n, 3600)) * time.Second
	}
	lifetime := e.FlowTTL
	if n, err := da.ExpiresIn.Int64(); err == nil && n > 0 {
		lifetime = time.Duration(min(n, 24*3600)) * time.Second
	}
	return &Flow{
		ID:                      rand.Text(),
		Kind:                    FlowDevice,
		MungedID:                app.MungedID(),
		ClientID:                app.ClientID,
		TokenEnd:                app.TokenEndpoint,
		DeviceCode:              Secret(da.DeviceCode),
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Interval:                interval,
		Created:                 now,
		Expires:                 now.Add(lifetime),
	}, nil
}

// pollDevice is the timed job of a pending device login: one token request
// (RFC 8628 §3.4), and when to ask again. authorization_pending keeps the
// interval, slow_down stretches it by SlowDown, a passing fault tries again
// after the interval; a refusal, a denial or the code's expiry end the login
// with oauth.token.error, a token ends it as every login ends.
func (e *Engine) pollDevice(ctx context.Context, flowID string) (next time.Time, again bool) {
	f, err := e.store.Flow(flowID)
	if IsNotFound(err) {
		return time.Time{}, false // replaced by a new login, or the app is gone
	}
	if err != nil {
		e.logger.Warn("device login not read, will poll again", "flow", FlowTag(flowID), "err", err)
		return e.Now().Add(e.PollInterval), true
	}
	app, err := e.app(f.MungedID)
	if err != nil {
		e.endDevice(f, nil, nil)
		return time.Time{}, false
	}
	if !e.Now().Before(f.Expires) {
		e.endDevice(f, app, errorf(CodeExpiredState, "the code was not entered in time; start the login again"))
		return time.Time{}, false
	}
	if app.ClientID != f.ClientID || app.TokenEndpoint != f.TokenEnd {
		e.endDevice(f, app, errorf(CodeInvalidState, "the app was registered again with another client during the login; start it again"))
		return time.Time{}, false
	}
	if !e.flights.begin() {
		return time.Time{}, false // stopping; the next start resumes it
	}
	defer e.flights.end()

	tok, err := e.deviceToken(ctx, app, f)
	var re *oauth2.RetrieveError
	switch {
	case err == nil:
		unlock := e.locks.Lock(app.MungedID())
		defer unlock()
		if derr := e.store.DeleteFlow(f.ID); derr != nil && !IsNotFound(derr) {
			e.logger.Warn("device login not deleted", "flow", FlowTag(f.ID), "err", derr)
		}
		cur, err := e.app(app.MungedID())
		if err == nil {
			err = e.keep(cur, tok, "login", "kind", FlowDevice, "flow", FlowTag(f.ID))
		}
		if err != nil {
			e.reportDevice(app, err)
		}
		return time.Time{}, false
	case errors.As(err, &re) && re.ErrorCode == "authorization_pending":
	case errors.As(err, &re) && re.ErrorCode == "slow_down":
		f.Interval += e.SlowDown
		if perr := e.store.PutFlow(f, 0); perr != nil && !IsNotFound(perr) {
			e.logger.Warn("device login interval not saved", "flow", FlowTag(f.ID), "err", perr)
		}
		e.logger.Debug("device login: provider asked to slow down", "app", f.MungedID, "interval", f.Interval)
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		e.endDevice(f, app, errorf(CodeAccessDenied, "the login was refused or cancelled"))
		return time.Time{}, false
	case errors.As(err, &re) && re.ErrorCode == "expired_token":
		e.endDevice(f, app, errorf(CodeExpiredState, "the code was not entered in time; start the login again"))
		return time.Time{}, false
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 && re.ErrorCode != "":
		e.endDevice(f, app, &Error{Code: CodeExchangeFailed, Description: "the provider refused to issue a token for this login", Err: redactedRetrieveError(re)})
		return time.Time{}, false
	default:
		// The network, a 5xx or garbage: the user may still be typing the
		// code, so the login goes on until it expires.
		e.logger.Info("device login poll failed, will poll again", "app", f.MungedID, "err", safeErr(err))
	}
	return e.Now().Add(f.Interval), true
}

// deviceToken sends one device-code token request.
func (e *Engine) deviceToken(ctx context.Context, app *App, f *Flow) (*Token, error) {
	ctx, cancel := e.providerCall(ctx)
	defer cancel()
	obtained := e.Now()
	resp, body, err := e.postForm(ctx, app, app.TokenEndpoint, url.Values{
		"grant_type":  {deviceGrant},
		"device_code": {f.DeviceCode.Reveal()},
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, retrieveError(resp, body)
	}
	raw := parseRaw(body, resp.Header.Get("Content-Type"))
	access, _ := raw["access_token"].(string)
	if access == "" {
		// Some providers answer errors with 200 (GitHub).
		if re := retrieveError(resp, body); re.ErrorCode != "" {
			return nil, re
		}
		return nil, errors.New("token endpoint answered 200 without an access token")
	}
	tokenType, _ := raw["token_type"].(string)
	refresh, _ := raw["refresh_token"].(string)
	return e.newToken(access, tokenType, refresh, raw, obtained), nil
}

// endDevice deletes a device login that is over and, for a failure the
// skill should hear, reports it. Of a login replaced meanwhile nothing is
// reported: its own poll found it gone.
func (e *Engine) endDevice(f *Flow, app *App, fail *Error) {
	err := e.store.DeleteFlow(f.ID)
	if IsNotFound(err) {
		return
	}
	if err != nil {
		e.logger.Warn("device login not deleted", "flow", FlowTag(f.ID), "err", err)
	}
	if app != nil && fail != nil {
		e.reportDevice(app, fail)
	}
}

func (e *Engine) reportDevice(app *App, err error) {
	oe, ok := errors.AsType[*Error](err)
	if !ok {
		oe = internalErr("finish the login", err)
	}
	e.logger.Warn("device login failed", "app", app.MungedID(), "code", oe.Code, "err", oe.Err)
	e.observer().LoginFailed(LoginDevice, oe.Code)
	e.Events.LoginFailed(app, oe)
}
