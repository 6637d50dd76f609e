package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// deviceGrant is the grant type of a device login's token requests
// (RFC 8628 §3.4).
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// deviceAuthResponse is a device authorization answer (RFC 8628 §3.2).
// Google names the verification URI verification_url.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURL         string `json:"verification_url"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               any    `json:"expires_in"`
	Interval                any    `json:"interval"`
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
		e.logger.Warn("device login not started: the provider's answer was refused", "app", app.MungedID(), "field", badField(err), "err", errors.Unwrap(err))
		return nil, err
	}
	if err := e.store.PutFlow(f, 1); err != nil {
		return nil, internalErr("save the login", err)
	}
	e.flowOpened(f.ID)
	e.sched.set(job{jobPoll, f.ID}, now.Add(f.Interval))
	e.logger.Info("device login started", "app", f.MungedID, "flow", FlowTag(f.ID), "verification_uri", f.VerificationURI, "interval", f.Interval, "expires", f.Expires)
	e.observer().LoginStarted(LoginDevice)
	return f, nil
}

// deviceFlow reads a device authorization answer into a pending login.
func (e *Engine) deviceFlow(app *App, body []byte, now time.Time) (*Flow, error) {
	var da deviceAuthResponse
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint answered something that is not a device code", Err: &answerError{"body", errors.New("not JSON of RFC 8628 §3.2")}}
	}
	if da.VerificationURI == "" {
		da.VerificationURI = da.VerificationURL
	}
	for _, f := range []struct{ name, value string }{{"device_code", da.DeviceCode}, {"user_code", da.UserCode}, {"verification_uri", da.VerificationURI}} {
		if f.value == "" {
			return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider's device endpoint answered without a device code, user code or verification URI", Err: &answerError{f.name, errors.New("missing")}}
		}
	}
	// The verification URIs and the user code go into QR codes, ovos-shell
	// (whose QML Text may render markup) and bus messages.
	for _, u := range []struct{ name, uri string }{{"verification_uri", da.VerificationURI}, {"verification_uri_complete", da.VerificationURIComplete}} {
		if u.uri == "" {
			continue
		}
		if err := checkVerificationURI(u.uri); err != nil {
			return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider answered with a login address that is not safe to show; tell the skill's author", Err: &answerError{u.name, err}}
		}
	}
	if err := checkUserCode(da.UserCode); err != nil {
		return nil, &Error{Code: CodeProviderUnavailable, Description: "the provider answered with a login code that is not safe to show; tell the skill's author", Err: &answerError{"user_code", err}}
	}
	interval, ok := seconds(da.Interval, minPollInterval, maxPollInterval)
	if !ok {
		interval = e.PollInterval
	}
	ttl, ok := seconds(da.ExpiresIn, minDeviceLifetime, maxDeviceLifetime)
	if !ok {
		ttl = e.FlowTTL
	}
	return &Flow{
		ID:                      rand.Text(),
		Kind:                    FlowDevice,
		MungedID:                app.MungedID(),
		ClientID:                app.ClientID,
		TokenEnd:                app.TokenEndpoint,
		Binding:                 app.binding(),
		DeviceCode:              Secret(da.DeviceCode),
		UserCode:                da.UserCode,
		VerificationURI:         da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete,
		Interval:                interval,
		Created:                 now,
		Expires:                 now.Add(ttl),
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
	if !e.Now().Before(e.flowExpires(f)) {
		e.endDevice(f, app, errorf(CodeExpiredState, "the code was not entered in time; start the login again"))
		return time.Time{}, false
	}
	if !f.startedUnder(app) {
		e.endDevice(f, app, errRegisteredAgain())
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
		e.deviceGranted(app, f, tok)
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
	return e.Now().Add(pollInterval(f)), true
}

// deviceGranted ends f, a device login of app, with tok, the token the
// provider granted it: kept, or the failure reported.
func (e *Engine) deviceGranted(app *App, f *Flow, tok *Token) {
	unlock := e.locks.Lock(app.MungedID())
	defer unlock()
	// The login ends in the token's own write: a kill before it leaves
	// the login pending, polled again by the next run.
	cur, err := e.app(app.MungedID())
	if err == nil && !f.startedUnder(cur) {
		err = errRegisteredAgain() // during the poll
	}
	if err == nil {
		err = e.keep(cur, tok, "login", f.ID, "kind", FlowDevice, "flow", FlowTag(f.ID))
	}
	if err == nil {
		return
	}
	derr := e.store.DeleteFlow(f.ID)
	if IsNotFound(derr) {
		// Ended during the poll: replaced, or by a change of the app's
		// login mode, which report nothing.
		return
	}
	if derr != nil {
		e.logger.Warn("device login not deleted", "flow", FlowTag(f.ID), "err", derr)
	}
	e.reportDevice(app, err)
}

// pollInterval is the wait before a device login's next poll: a stored
// interval, however it was written, is never a busy loop.
func pollInterval(f *Flow) time.Duration { return max(f.Interval, minPollInterval) }

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
	e.events.LoginFailed(app, oe)
}

// answerError names the field of a device authorization answer that was
// refused, and why, never its value: a hostile provider's text stays out
// of the log.
type answerError struct {
	field string
	err   error
}

func (e *answerError) Error() string {
	return "device authorization answer: " + e.field + ": " + e.err.Error()
}

func (e *answerError) Unwrap() error { return e.err }

// badField is the field an answerError in err names, or "".
func badField(err error) string {
	if ae, ok := errors.AsType[*answerError](err); ok {
		return ae.field
	}
	return ""
}

// maxUserCode bounds a user code, in characters: providers issue 8 or 9
// (RFC 8628 §6.1), and a person reads it from a screen and types it.
const maxUserCode = 32

// checkVerificationURI accepts the address a device login sends the user
// to: an absolute https URL, or http to this device itself (a provider on
// loopback; tests), of URI characters only (RFC 3986 §2), so that nothing
// in it can be read as markup where it is shown, without user info (which
// would show a trusted name before another host) or a fragment.
func checkVerificationURI(raw string) error {
	if len(raw) > maxFieldLen {
		return errors.New("too long")
	}
	for i := 0; i < len(raw); i++ {
		if !isURIChar(raw[i]) {
			return errors.New("has a character that is not allowed in a URI")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("not an absolute URL without user info or fragment")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("not https (http is accepted only on this device itself)")
}

// isURIChar reports whether c may appear in a URI: unreserved, reserved or
// '%' (RFC 3986 §2). '<', '>', '"', '`', spaces and control characters may
// not.
func isURIChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}

// isLoopbackHost reports whether host names this device: localhost,
// 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkUserCode accepts the code a device login asks the user to type: 1 to
// maxUserCode characters of letters and digits of any script, combining
// marks, spaces, '-', '.' and '_', with at least one letter or digit. It is
// shown by ovos-shell, whose QML Text may render markup, and spoken by
// skills: no '<', '&', quotes, control or invisible formatting characters
// (bidi overrides, zero-width spaces).
func checkUserCode(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	if n := utf8.RuneCountInString(s); n == 0 || n > maxUserCode {
		return fmt.Errorf("not 1 to %d characters", maxUserCode)
	}
	typable := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r):
			typable = true
		case unicode.IsMark(r), r == ' ', r == '-', r == '.', r == '_':
		default:
			return errors.New("has a character that is not a letter, digit, space, '-', '.' or '_'")
		}
	}
	if !typable {
		return errors.New("has no letter or digit")
	}
	return nil
}
