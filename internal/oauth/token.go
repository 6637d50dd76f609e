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
	"strconv"
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
	var scopes []string
	if app.Scope != "" {
		scopes = strings.Fields(app.Scope)
	}
	return &oauth2.Config{
		ClientID:     app.ClientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   app.AuthEndpoint,
			TokenURL:  app.TokenEndpoint,
			AuthStyle: style,
		},
		RedirectURL: redirectURI,
		Scopes:      scopes,
	}
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
	raw := parseRaw(capture.body, capture.contentType)
	// The secrets live in their own fields only, never twice.
	delete(raw, "access_token")
	delete(raw, "refresh_token")
	tok := &Token{
		AccessToken:  Secret(ot.AccessToken),
		TokenType:    ot.TokenType,
		RefreshToken: Secret(ot.RefreshToken),
		Raw:          raw,
		Obtained:     obtained,
	}
	if s, ok := raw["scope"].(string); ok {
		tok.Scope = s
	}
	// Expiry from this response's expires_in against our clock, not
	// x/oauth2's time.Now, so an injected clock holds.
	if secs, ok := expiresIn(raw); ok && secs > 0 {
		tok.Expiry = obtained.Add(time.Duration(secs) * time.Second)
	}
	return tok, nil
}

// expiresIn reads expires_in as a number or a numeric string (PayPal).
func expiresIn(raw map[string]any) (int64, bool) {
	switch v := raw["expires_in"].(type) {
	case float64:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
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
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
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

// BusFields returns the token as skills receive it on the bus: the
// provider's response without the refresh token (every bus client sees every
// frame), with access_token, token_type and a float expires_at.
func (t *Token) BusFields() map[string]any {
	out := make(map[string]any, len(t.Raw)+3)
	for k, v := range t.Raw {
		out[k] = v
	}
	delete(out, "refresh_token")
	out["access_token"] = t.AccessToken.Reveal()
	if t.TokenType != "" {
		out["token_type"] = t.TokenType
	}
	if !t.Expiry.IsZero() {
		out["expires_at"] = float64(t.Expiry.UnixMicro()) / 1e6
		if _, ok := out["expires_in"]; !ok {
			out["expires_in"] = int64(t.Expiry.Sub(t.Obtained).Seconds())
		}
	}
	if t.Scope != "" {
		out["scope"] = t.Scope
	}
	return out
}
