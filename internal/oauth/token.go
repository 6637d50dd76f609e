package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenResponse bounds what is read of a token endpoint's answer, as
// x/oauth2 does.
const maxTokenResponse = 1 << 20

// config builds the x/oauth2 configuration of an app. The auth style is
// always explicit: x/oauth2's auto-detection retries a failed request the
// other way, which sends a single-use code twice.
func (e *Engine) config(app *App, redirectURI string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	switch app.TokenAuth {
	case TokenAuthPost, TokenAuthNone:
		style = oauth2.AuthStyleInParams
	case TokenAuthAuto:
		if app.ClientSecret == "" {
			style = oauth2.AuthStyleInParams
		}
	}
	secret := app.ClientSecret.Reveal()
	if app.TokenAuth == TokenAuthNone {
		secret = ""
	}
	// No Scopes: x/oauth2 would join them with spaces; StartFlow sends
	// app.scope() itself.
	return &oauth2.Config{
		ClientID:     app.ClientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   app.AuthEndpoint,
			TokenURL:  app.TokenEndpoint,
			AuthStyle: style,
		},
		RedirectURL: redirectURI,
	}
}

// scope is the app's scopes as its provider wants them joined: by spaces
// (RFC 6749 §3.3), or by the app's separator (Strava's commas).
func (a *App) scope() string {
	fields := strings.Fields(a.Scope)
	sep := a.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	return strings.Join(fields, sep)
}

// keep stores a token an app was just issued and announces it: the one
// path every new token takes, whatever finished the login (the callback,
// ovos-shell's forward, a pasted address, the relay, a device poll) or
// refreshed it. how is "login" or "refresh"; a login's flowID names the
// pending login the token ends, deleted in the token's own write. The token
// is on disk before anyone hears of it, and its event waits for the Mirror
// (see announce); the caller's own reply need not. A refreshed token that cannot be
// saved is kept in memory, not handed out, and saved by the next refresh:
// the provider may have rotated the refresh token, and the old one is
// dead. The caller holds the app's lock.
func (e *Engine) keep(app *App, tok *Token, how, flowID string, logArgs ...any) error {
	id := app.MungedID()
	if how == "login" {
		tok.LoginAt = tok.Obtained
	}
	if how == "login" && app.NeedsReauth {
		app.NeedsReauth, app.ReauthReason, app.Updated = false, "", e.Now()
		if err := e.store.PutApp(app, false); err != nil {
			return internalErr("save the app", err)
		}
	}
	put := e.store.PutToken
	if flowID != "" {
		put = func(id string, tok *Token) error { return e.store.PutLoginToken(id, tok, flowID) }
	}
	if err := put(id, tok); err != nil {
		if how == "refresh" {
			e.unsaved.set(id, tok)
			e.observer().RefreshFailed(CodeInternal)
			return internalErr("save the refreshed token", err)
		}
		return internalErr("save the token", err)
	}
	e.unsaved.set(id, nil)
	e.tokenStored(id, tok, how)
	e.planRefresh(app, tok)
	written := e.mirrorToken(app, tok)
	args := append([]any{"app", id, "expires", tok.Expiry, "refreshable", tok.RefreshToken != ""}, logArgs...)
	if how == "login" {
		e.logger.Info("login completed", args...)
		e.observer().LoginCompleted(app.LoginMode())
		e.announce(id, written, func() { e.events.TokenIssued(app, tok) })
		return nil
	}
	e.logger.Info("token refreshed", args...)
	e.observer().Refreshed()
	e.announce(id, written, func() { e.events.TokenRefreshed(app, tok) })
	return nil
}

// postForm sends a form to one of the app's endpoints at the provider,
// authenticating the client as at the token endpoint, and returns the
// answer's body (at most maxTokenResponse bytes). ctx carries the deadline.
func (e *Engine) postForm(ctx context.Context, app *App, endpoint string, form url.Values) (*http.Response, []byte, error) {
	cfg := e.config(app, "")
	basic := cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", cfg.ClientID)
		if cfg.ClientSecret != "" {
			form.Set("client_secret", cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	resp, err := e.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

// retrieveError reads an OAuth error answer (RFC 6749 §5.2) into the type
// x/oauth2 gives for its own requests, so that one mapping serves all.
func retrieveError(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	raw := parseRaw(body, resp.Header.Get("Content-Type"))
	re.ErrorCode, _ = raw["error"].(string)
	re.ErrorDescription, _ = raw["error_description"].(string)
	return re
}

// newToken builds a Token from a token endpoint's answer: the secrets in
// their own fields only, never twice; the expiry from expires_in against
// the engine's clock, within the bounds a lifetime is believed in.
func (e *Engine) newToken(access, tokenType, refresh string, raw map[string]any, obtained time.Time) *Token {
	delete(raw, "access_token")
	delete(raw, "refresh_token")
	tok := &Token{
		AccessToken:  Secret(access),
		TokenType:    tokenType,
		RefreshToken: Secret(refresh),
		Raw:          raw,
		Obtained:     obtained,
	}
	if s, ok := raw["scope"].(string); ok {
		tok.Scope = s
	}
	if d, ok := lifetime(raw, "expires_in", minTokenLifetime, maxTokenLifetime); ok {
		tok.Expiry = obtained.Add(d)
	}
	if d, ok := lifetime(raw, "refresh_token_expires_in", minRefreshLifetime, maxRefreshLifetime); ok {
		tok.RefreshExpiry = obtained.Add(d)
	}
	return tok
}

// retrieve runs one token request and converts its answer, keeping the
// provider's whole response: x/oauth2 exposes only the fields it knows, so
// the body is captured on its way through.
func (e *Engine) retrieve(ctx context.Context, do func(context.Context) (*oauth2.Token, error)) (*Token, error) {
	capture := &captureTransport{base: e.HTTPClient.Transport}
	client := *e.HTTPClient
	client.Transport = capture
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &client)
	obtained := e.Now()
	ot, err := do(ctx)
	if err != nil {
		return nil, err
	}
	// Expiry from this response's expires_in against our clock, not
	// x/oauth2's time.Now, so an injected clock holds.
	return e.newToken(ot.AccessToken, ot.TokenType, ot.RefreshToken, parseRaw(capture.body, capture.contentType), obtained), nil
}

// parseRaw decodes a token response as JSON, or as a form (GitHub's old
// default) into strings.
func parseRaw(body []byte, contentType string) map[string]any {
	raw := map[string]any{}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		if err == nil {
			for k := range vals {
				raw[k] = vals.Get(k)
			}
		}
		return raw
	}
	_ = json.Unmarshal(body, &raw)
	if raw == nil {
		raw = map[string]any{}
	}
	return raw
}

// captureTransport keeps a copy of the last response body it carried.
type captureTransport struct {
	base        http.RoundTripper
	body        []byte
	contentType string
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.body, t.contentType = body, resp.Header.Get("Content-Type")
	resp.Body = io.NopCloser(bytes.NewReader(withoutOddExpiresIn(body, t.contentType)))
	return resp, nil
}

// withoutOddExpiresIn is a JSON token answer as x/oauth2 can read it.
// x/oauth2 fails a whole answer whose expires_in is not an integer
// (3600.0, 1e300, "soon"), and so the login or refresh with it, where the
// engine reads lifetimes itself from the captured body (newToken) and
// clamps them. Such an expires_in is left out of what x/oauth2 sees.
func withoutOddExpiresIn(body []byte, contentType string) []byte {
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		return body // x/oauth2 ignores an unreadable expires_in in a form
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return body
	}
	odd := false
	for k, v := range fields {
		// encoding/json, which x/oauth2 reads with, takes a key in any
		// case: "Expires_In" is expires_in to it.
		if !strings.EqualFold(k, "expires_in") || string(v) == "null" {
			continue
		}
		var n json.Number
		if json.Unmarshal(v, &n) == nil {
			if _, err := n.Int64(); err == nil {
				continue
			}
		}
		delete(fields, k)
		odd = true
	}
	if !odd {
		return body
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return body
	}
	return out
}

// redactedRetrieveError keeps the status and the RFC 6749 error code of a
// token endpoint's refusal, but not its body: a provider may echo what it
// was sent.
func redactedRetrieveError(re *oauth2.RetrieveError) error {
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	return fmt.Errorf("token endpoint answered status %d, error %q", status, re.ErrorCode)
}
