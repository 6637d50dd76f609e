// Package wire is the typed description of the oauth.* messages on the
// OVOS bus: their names, the data of every request and reply, and how a
// reply is told from the others. The daemon (internal/api) answers with
// these types and the CLI and the tests ask with them, so a reply's shape is
// written once.
//
// Every reply embeds Error: the same reply type carries the same fields
// whether it succeeded, failed or was refused as busy, plus "error" and
// "error_description" when it did not succeed.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// Message types. The first group is the upstream plugin's contract, kept
// exactly; the second is what ovos-oauth adds.
const (
	TypeRegister        = "oauth.register"
	TypeGet             = "oauth.get"
	TypeURL             = "oauth.url"
	TypeStart           = "oauth.start"
	TypeShellStart      = "ovos.shell.oauth.start.authentication"
	TypeShellCreds      = "ovos.shell.oauth.register.credentials"
	TypeShellForward    = "ovos.shell.oauth.authentication.forward"
	TypeShellDisplayQR  = "ovos.shell.oauth.display.qr.code"
	TypeRefresh         = "oauth.refresh"
	TypeHostInfo        = "oauth.get.app.host.info"
	TypeHostInfoReply   = "oauth.app.host.info.response"
	TypeQR              = "oauth.generate.qr.request"
	TypeQRReply         = "oauth.generate.qr.response"
	TypePing            = "oauth.ping"
	PrefixTokenResponse = "oauth.token.response."

	TypeTokenGet         = "oauth.token.get"
	TypeRevoke           = "oauth.revoke"
	TypeUnregister       = "oauth.unregister"
	TypeStatus           = "oauth.status"
	PrefixTokenRefreshed = "oauth.token.refreshed."
	PrefixReauthRequired = "oauth.reauth.required."
	PrefixReauthUpcoming = "oauth.reauth.upcoming."
	PrefixTokenError     = "oauth.token.error."
)

// Response is the suffix of a reply made by ovos-bus-client's
// Message.response: "<request type>.response".
const Response = ".response"

// ReplyTypes lists the types a reply to a request of type typ may have, in
// the order a caller should expect them: most requests have one, oauth.start
// and the credentials request are answered by a forward to ovos-shell when
// they open a login and by their own .response when they fail. nil for a
// type that is not a request.
func ReplyTypes(typ string) []string {
	switch typ {
	case TypeGet:
		return []string{TypeURL}
	case TypeHostInfo:
		return []string{TypeHostInfoReply}
	case TypeQR:
		return []string{TypeQRReply}
	case TypeStart, TypeShellCreds:
		return []string{TypeShellStart, typ + Response}
	case TypeRegister, TypeRefresh, TypeShellForward, TypeTokenGet, TypeRevoke, TypeUnregister, TypeStatus:
		return []string{typ + Response}
	}
	return nil
}

// Error is what every reply embeds: empty when the request succeeded.
type Error struct {
	// Code is one of the error codes of internal/oauth (invalid_request,
	// unknown_app, busy, …).
	Code        string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// SetError marks the reply as failed.
func (e *Error) SetError(code, description string) {
	e.Code, e.Description = code, description
}

// Err returns the reply's failure as an error, nil when it succeeded.
func (e *Error) Err() error {
	if e.Code == "" {
		return nil
	}
	return &ReplyError{Code: e.Code, Description: e.Description}
}

// Failer is a reply: every reply type implements it through its embedded
// Error.
type Failer interface {
	SetError(code, description string)
	Err() error
}

// ReplyError is a failed reply as an error.
type ReplyError struct {
	Code, Description string
}

func (e *ReplyError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// AppRef names an app: the key of every request about one.
type AppRef struct {
	SkillID string `json:"skill_id"`
	AppID   string `json:"app_id"`
}

// Ref returns the reference; requests and replies that embed AppRef have it.
func (r AppRef) Ref() AppRef { return r }

// SetRef sets the reference.
func (r *AppRef) SetRef(ref AppRef) { *r = ref }

// MungedID is upstream's key of an app, skill_id + "_" + app_id.
func (r AppRef) MungedID() string { return r.SkillID + "_" + r.AppID }

// Scope is a space-separated scope. It also reads a list of strings, as
// some skills send.
type Scope string

// UnmarshalJSON reads a string or a list of strings.
func (s *Scope) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = Scope(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &json.UnmarshalTypeError{Value: "scope", Type: stringType}
	}
	*s = Scope(strings.Join(list, " "))
	return nil
}

var stringType = reflect.TypeFor[string]()

// marshal is json.Marshal without HTML escaping, as the bus's own frames.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// RegisterRequest is oauth.register. Pointers are fields whose absence
// means a default other than the zero value.
type RegisterRequest struct {
	AppRef
	ClientID      string `json:"client_id,omitempty"`
	ClientSecret  string `json:"client_secret,omitempty"`
	AuthEndpoint  string `json:"auth_endpoint,omitempty"`
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	Scope         Scope  `json:"scope,omitempty"`
	// ShellIntegration defaults to true.
	ShellIntegration *bool `json:"shell_integration,omitempty"`
	// RefreshEndpoint is deprecated upstream and ignored.
	RefreshEndpoint    any               `json:"refresh_endpoint,omitempty"`
	DeviceEndpoint     string            `json:"device_endpoint,omitempty"`
	RevocationEndpoint string            `json:"revocation_endpoint,omitempty"`
	TokenAuth          string            `json:"token_auth,omitempty"`
	PKCE               *bool             `json:"pkce,omitempty"` // default true
	AuthParams         map[string]string `json:"auth_params,omitempty"`
	RedirectURI        string            `json:"redirect_uri,omitempty"`
	Login              string            `json:"login,omitempty"`
	RelayURL           string            `json:"relay_url,omitempty"`
	ScopeSeparator     string            `json:"scope_separator,omitempty"`
	Provider           string            `json:"provider,omitempty"`
	InstanceURL        string            `json:"instance_url,omitempty"`
}

// RegisterReply is oauth.register.response.
type RegisterReply struct {
	MungedID string `json:"munged_id"`
	// ClientID is null while the app has none (upstream sends None).
	ClientID    *string `json:"client_id"`
	NeedsCreds  bool    `json:"needs_creds"`
	Login       string  `json:"login"`
	RedirectURI string  `json:"redirect_uri"`
	// TokenDropped: this registration changed the app's client or an
	// endpoint its token goes to, so the token it had is forgotten and the
	// user must log in again.
	TokenDropped bool `json:"token_dropped"`
	// CredentialsDropped: the client id and secret the user typed were
	// forgotten (the registration brought its own client, or moved an
	// endpoint they go to).
	CredentialsDropped bool `json:"credentials_dropped"`
	// Warning says what to do when the app's logins cannot work as set
	// up (a relay login to an address the relay page refuses); "" when
	// nothing is wrong.
	Warning string `json:"warning"`
	Error
}

// SetRef fills the munged id a failed registration is about.
func (r *RegisterReply) SetRef(ref AppRef) { r.MungedID = ref.MungedID() }

// DeviceLogin is what a reply that opens a device login (RFC 8628) adds,
// for a GUI to show and a skill to speak: the code the user types at the
// verification URI. Empty for every other kind of login.
type DeviceLogin struct {
	UserCode                string `json:"user_code,omitempty"`
	VerificationURI         string `json:"verification_uri,omitempty"`
	VerificationURIComplete string `json:"verification_uri_complete,omitempty"`
	ExpiresIn               int64  `json:"expires_in,omitempty"`
	Interval                int64  `json:"interval,omitempty"`
}

// URLReply is oauth.url, the reply to oauth.get.
type URLReply struct {
	AppRef
	// URL is the address the user opens: the authorization URL, or the
	// verification URI of a device login. null when it failed.
	URL *string `json:"url"`
	// Link is the short address QR codes carry: it leads to the provider,
	// or for a loopback login to the page that tells how to finish it (the
	// verification URI for a device login). null when it failed.
	Link *string `json:"link"`
	// NeedsCredentials: the app has no client id yet, and URL and Link
	// lead to the setup page that takes it, then goes on to the login.
	NeedsCredentials bool `json:"needs_credentials"`
	DeviceLogin
	Error
}

// StartAuthentication is ovos.shell.oauth.start.authentication, the
// answer to oauth.start and to the credentials ovos-shell sends, and the
// .response of those when they fail.
type StartAuthentication struct {
	AppRef
	URL              string `json:"url"`
	NeedsCredentials bool   `json:"needs_credentials"`
	DeviceLogin
	Error
}

// CredentialsRequest is ovos.shell.oauth.register.credentials: what the
// user typed in ovos-shell.
type CredentialsRequest struct {
	AppRef
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// RefreshReply is oauth.refresh.response.
type RefreshReply struct {
	// Result is "Ok" or "Error", as upstream.
	Result   string  `json:"result"`
	ClientID *string `json:"client_id"`
	Token    *Token  `json:"token"`
	Error
}

// SetError marks the reply as failed, with result "Error" as upstream.
func (r *RefreshReply) SetError(code, description string) {
	r.Result = "Error"
	r.Error.SetError(code, description)
}

// HostInfoReply is oauth.app.host.info.response: the callback server as
// phones reach it.
type HostInfoReply struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Error
}

// QRReply is oauth.generate.qr.response, and the data of
// ovos.shell.oauth.display.qr.code.
type QRReply struct {
	AppRef
	// QR is the absolute path of the PNG, null when it failed.
	QR *string `json:"qr"`
	// NeedsCredentials: the app has no client id yet, and the QR code
	// leads to the setup page that takes it, then to the login.
	NeedsCredentials bool `json:"needs_credentials"`
	DeviceLogin
	Error
}

// ForwardRequest is ovos.shell.oauth.authentication.forward: a URL
// ovos-shell's browser showed.
type ForwardRequest struct {
	AppRef
	RedirectURL string `json:"redirectURL"`
}

// ForwardReply is its .response.
type ForwardReply struct {
	AppRef
	Authorized bool `json:"authorized"`
	// Ignored is true for a URL that is not the login's answer (ovos-shell
	// forwards the authorization URL too); Reason says why.
	Ignored bool   `json:"ignored"`
	Reason  string `json:"reason"`
	Error
}

// TokenGetReply is oauth.token.get.response: a valid access token.
type TokenGetReply struct {
	AppRef
	Token
	Error
}

// MarshalJSON writes the token's fields beside skill_id, app_id and the
// error.
func (r TokenGetReply) MarshalJSON() ([]byte, error) {
	m := r.Token.fields()
	m["skill_id"], m["app_id"] = r.SkillID, r.AppID
	if r.Code != "" {
		m["error"], m["error_description"] = r.Code, r.Description
	}
	return marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *TokenGetReply) UnmarshalJSON(b []byte) error {
	var side struct {
		AppRef
		Error
	}
	if err := json.Unmarshal(b, &side); err != nil {
		return err
	}
	if err := r.Token.UnmarshalJSON(b); err != nil {
		return err
	}
	for _, k := range []string{"skill_id", "app_id", "error", "error_description"} {
		delete(r.Token.Extra, k)
	}
	if len(r.Token.Extra) == 0 {
		r.Token.Extra = nil
	}
	r.AppRef, r.Error = side.AppRef, side.Error
	return nil
}

// RevokeReply is oauth.revoke.response.
type RevokeReply struct {
	AppRef
	// Revoked: the provider revoked the tokens (the app has a revocation
	// endpoint, and the provider accepted).
	Revoked bool `json:"revoked"`
	// Forgotten: the app had tokens and they are gone here, whether or not
	// the provider was told.
	Forgotten bool `json:"forgotten"`
	// Reason says why Revoked is false when the request did not fail: the
	// app had no token, or it has no revocation endpoint and the token was
	// only forgotten here. "" when Revoked is true.
	Reason string `json:"reason"`
	Error
}

// UnregisterReply is oauth.unregister.response.
type UnregisterReply struct {
	AppRef
	Removed bool `json:"removed"`
	Error
}

// StatusRequest is oauth.status; an empty SkillID lists every app.
type StatusRequest struct {
	SkillID string `json:"skill_id,omitempty"`
}

// StatusReply is oauth.status.response.
type StatusReply struct {
	Apps []AppStatus `json:"apps"`
	// Damaged lists the damaged records of apps not registered now (one
	// whose own record was damaged, until its skill registers it again).
	Damaged []DamagedRecord `json:"damaged"`
	Error
}

// DamagedRecord is a stored record of an app that did not open or decode
// (a bad card, a hand edit) and was set aside, until ovos-oauth doctor
// --remove deletes it: never its content.
type DamagedRecord struct {
	MungedID string `json:"munged_id"`
	// Record is "token" (the saved login: the app needs a new login),
	// "app" (the registration, with its token: the skill registers it
	// again, then the app needs a new login) or "login" (a pending login:
	// it ended).
	Record string `json:"record"`
	// Reason says why, in words.
	Reason string `json:"reason"`
	// At is when it was set aside, Unix seconds.
	At float64 `json:"at"`
}

// AppStatus is one app in oauth.status: never a secret.
type AppStatus struct {
	MungedID   string `json:"munged_id"`
	SkillID    string `json:"skill_id"`
	AppID      string `json:"app_id"`
	NeedsCreds bool   `json:"needs_creds"`
	Authorized bool   `json:"authorized"`
	// ExpiresAt is when the access token expires, Unix seconds; null
	// without a token.
	ExpiresAt   *float64 `json:"expires_at"`
	NeedsReauth bool     `json:"needs_reauth"`
	// Flow is the kind of the pending login (code, relay, loopback,
	// device), null when none.
	Flow *string `json:"flow"`
	// Login is the app's login mode; RedirectURI the exact address to
	// register at the provider ("" for a device login).
	Login       string `json:"login"`
	RedirectURI string `json:"redirect_uri"`
	// NextRefreshAt is when the daemon next refreshes the token, Unix
	// seconds; null when none is planned.
	NextRefreshAt *float64 `json:"next_refresh_at"`
	// LoginExpiresAt is when the login ends and the user must log in
	// again, Unix seconds: when the provider said its refresh token stops
	// working, or when the provider ends every login (Spotify: 6 months
	// after it began). null when no end is known.
	LoginExpiresAt *float64 `json:"login_expires_at"`
	// Damaged lists the app's records that were damaged and set aside;
	// empty when none.
	Damaged []DamagedRecord `json:"damaged"`
}

// Token is an access token as skills receive it on the bus: never the
// refresh token (every bus client sees every frame). Extra holds the
// provider's other fields (id_token, …), written beside the known ones.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresIn   int64   // 0: not given
	ExpiresAt   float64 // Unix seconds; 0: not given
	Scope       string
	Extra       map[string]any
}

func (t Token) fields() map[string]any {
	m := make(map[string]any, len(t.Extra)+5)
	maps.Copy(m, t.Extra)
	delete(m, "refresh_token")
	m["access_token"] = t.AccessToken
	if t.TokenType != "" {
		m["token_type"] = t.TokenType
	}
	if t.ExpiresIn != 0 {
		m["expires_in"] = t.ExpiresIn
	}
	if t.ExpiresAt != 0 {
		m["expires_at"] = t.ExpiresAt
	}
	if t.Scope != "" {
		m["scope"] = t.Scope
	}
	return m
}

// MarshalJSON writes the token as one flat object.
func (t Token) MarshalJSON() ([]byte, error) { return marshal(t.fields()) }

// UnmarshalJSON reads a flat token object.
func (t *Token) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var known struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   float64 `json:"expires_in"`
		ExpiresAt   float64 `json:"expires_at"`
		Scope       string  `json:"scope"`
	}
	if err := json.Unmarshal(b, &known); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	for _, k := range []string{"access_token", "token_type", "expires_in", "expires_at", "scope", "refresh_token"} {
		delete(m, k)
	}
	*t = Token{AccessToken: known.AccessToken, TokenType: known.TokenType, ExpiresIn: int64(known.ExpiresIn),
		ExpiresAt: known.ExpiresAt, Scope: known.Scope}
	if len(m) > 0 {
		t.Extra = m
	}
	return nil
}

// LoginError is the data of oauth.token.error.<munged_id>: a login failed.
type LoginError struct {
	AppRef
	Error
}

// ReauthRequired is the data of oauth.reauth.required.<munged_id>.
type ReauthRequired struct {
	AppRef
	Reason string `json:"reason"`
}

// ReauthUpcoming is the data of oauth.reauth.upcoming.<munged_id>: the
// app's login ends soon, and the user should log in again before it does.
type ReauthUpcoming struct {
	AppRef
	MungedID string `json:"munged_id"`
	// LoginExpiresAt is when the login ends, Unix seconds.
	LoginExpiresAt float64 `json:"login_expires_at"`
	// Reason says in words why it ends then.
	Reason string `json:"reason"`
}

// Requester sends a request and waits for its reply; *bus.Client is one.
type Requester interface {
	Request(ctx context.Context, m bus.Message, replyTypes ...string) (bus.Message, error)
}

// Call sends a request of type typ with data req (nil for none) and
// decodes its reply. The error is the bus's (wrapping bus.ErrNoReply when
// none came in time) or the reply's own, a *ReplyError, in which case the
// reply is returned too.
func Call[R any, PR interface {
	*R
	Failer
}](ctx context.Context, c Requester, typ string, req any) (*R, error) {
	// bus.Client.Send gives it the default session, as ovos-bus-client's
	// emit does: Python clients warn of a frame without.
	m, err := c.Request(ctx, bus.NewMessage(typ, req), ReplyTypes(typ)...)
	if err != nil {
		return nil, err
	}
	rep := PR(new(R))
	if err := m.DecodeData(rep); err != nil {
		return nil, fmt.Errorf("%s: reply %s: %w", typ, m.Type, err)
	}
	if err := rep.Err(); err != nil {
		return (*R)(rep), err
	}
	return (*R)(rep), nil
}
