// Package oauth is the flow engine: it keeps the registered apps, opens
// pending logins, completes them at the provider's token endpoint and keeps
// tokens fresh. It knows nothing of the bus or HTTP; callers hand it plain
// values and receive typed results and *Error values.
package oauth

import (
	"log/slog"
	"time"
)

// Secret is a string that must never reach a log line or a formatted error.
// It marshals to JSON as the plain string (the store needs it); every
// formatting path prints REDACTED.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer so %v and %s never print the value.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer so %#v never prints the value.
func (Secret) GoString() string { return "REDACTED" }

// Reveal returns the secret's value, for the few places that must send it.
func (s Secret) Reveal() string { return string(s) }

// How a client authenticates at the token endpoint (App.TokenAuth).
const (
	TokenAuthAuto  = ""      // Basic with a secret, client_id in the body without
	TokenAuthBasic = "basic" // HTTP Basic (RFC 6749 §2.3.1)
	TokenAuthPost  = "post"  // client_id and client_secret in the body
	TokenAuthNone  = "none"  // public client: client_id in the body, no secret
)

// App is one registered OAuth client of one skill, keyed by its munged id.
type App struct {
	SkillID            string            `json:"skill_id"`
	AppID              string            `json:"app_id"`
	ClientID           string            `json:"client_id,omitempty"`
	ClientSecret       Secret            `json:"client_secret,omitempty"`
	AuthEndpoint       string            `json:"auth_endpoint"`
	TokenEndpoint      string            `json:"token_endpoint"`
	DeviceEndpoint     string            `json:"device_endpoint,omitempty"`
	RevocationEndpoint string            `json:"revocation_endpoint,omitempty"`
	Scope              string            `json:"scope,omitempty"`
	ShellIntegration   bool              `json:"shell_integration"`
	TokenAuth          string            `json:"token_auth,omitempty"`
	PKCE               bool              `json:"pkce"`
	AuthParams         map[string]string `json:"auth_params,omitempty"`
	RedirectURI        string            `json:"redirect_uri,omitempty"`

	// CredsFromUser is set when the client credentials were typed by the
	// user in ovos-shell; a later registration without credentials keeps them.
	CredsFromUser bool `json:"creds_from_user,omitempty"`
	// NeedsReauth is set when the provider refused the refresh token for
	// good; only a new login clears it.
	NeedsReauth  bool      `json:"needs_reauth,omitempty"`
	ReauthReason string    `json:"reauth_reason,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// MungedID returns the app's key, "<skill_id>_<app_id>", as upstream forms it.
func (a *App) MungedID() string { return MungedID(a.SkillID, a.AppID) }

// NeedsCreds reports whether the app still lacks a client id.
func (a *App) NeedsCreds() bool { return a.ClientID == "" }

// MungedID joins a skill id and an app id into an app key.
func MungedID(skillID, appID string) string { return skillID + "_" + appID }

// Token is what a provider issued for an app. Raw keeps the provider's whole
// token response, so fields this package does not know reach the skill.
type Token struct {
	AccessToken  Secret         `json:"access_token"`
	TokenType    string         `json:"token_type,omitempty"`
	RefreshToken Secret         `json:"refresh_token,omitempty"`
	Expiry       time.Time      `json:"expiry,omitzero"`
	Scope        string         `json:"scope,omitempty"`
	Raw          map[string]any `json:"raw,omitempty"`
	// Obtained is when the provider issued this access token.
	Obtained time.Time `json:"obtained"`
}

// FlowKind tells how a pending login is finished.
type FlowKind string

// Flow kinds. Only the authorization-code flow exists today; the device grant
// (polling), an HTTPS relay and a pasted redirect URL are planned kinds.
const (
	FlowCode FlowKind = "code"
)

// Flow is a pending login. It is single-use: completing it, in success or
// failure, deletes it.
type Flow struct {
	ID       string   `json:"id"`
	Kind     FlowKind `json:"kind"`
	MungedID string   `json:"munged_id"`
	// ClientID and TokenEnd are the app's when the login began: a login is
	// finished with the client it was started for, or not at all.
	ClientID    string    `json:"client_id"`
	TokenEnd    string    `json:"token_endpoint"`
	State       Secret    `json:"state"`
	Verifier    Secret    `json:"verifier,omitempty"`
	RedirectURI string    `json:"redirect_uri"`
	AuthURL     string    `json:"auth_url"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}
