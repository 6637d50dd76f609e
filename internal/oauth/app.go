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

// Login modes: how an app's logins reach this device (App.Login).
const (
	// LoginLAN: the provider redirects the phone to this device's LAN
	// address, http://<public_host>:<port>/auth/callback/<munged_id>.
	LoginLAN = "lan"
	// LoginRelay: the provider redirects to an HTTPS relay page, which sends
	// the phone on to the LAN callback named in the state.
	LoginRelay = "relay"
	// LoginLoopback: the redirect URI is http://127.0.0.1:<port>/...: the
	// device's own browser lands there; a phone's address is pasted back.
	LoginLoopback = "loopback"
	// LoginDevice: the RFC 8628 device grant; no redirect at all.
	LoginDevice = "device"
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
	// Login is the login mode, one of the Login constants; "" (apps stored
	// before modes existed) is LoginLAN.
	Login string `json:"login,omitempty"`
	// RelayURL is the app's own relay page; "" means the daemon's.
	RelayURL string `json:"relay_url,omitempty"`
	// ScopeSeparator joins scopes in requests; "" is a space (RFC 6749).
	ScopeSeparator string `json:"scope_separator,omitempty"`
	// Provider is the known provider the registration named, if any.
	Provider string `json:"provider,omitempty"`

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

// LoginMode returns the app's login mode, LoginLAN for apps stored without
// one.
func (a *App) LoginMode() string {
	if a.Login == "" {
		return LoginLAN
	}
	return a.Login
}

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
	// RefreshExpiry is when the provider said the refresh token stops
	// working (refresh_token_expires_in); zero when it did not say.
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
	// LoginAt is when the user logged in: the original authorization this
	// token was refreshed from, carried across refreshes. Zero for a token
	// stored by an older version or imported; its Obtained stands in.
	LoginAt time.Time `json:"login_at,omitzero"`
	// ReauthWarned is when the skill was last told that this login ends
	// soon (oauth.reauth.upcoming); zero when it was not.
	ReauthWarned time.Time `json:"reauth_warned,omitzero"`
}

// FlowKind tells how a pending login is finished.
type FlowKind string

// Flow kinds, one per login mode, and the setup. Code, relay and loopback
// logins are authorization-code logins finished by the provider's answer
// (at the callback, from ovos-shell's forward or pasted); a device login is
// finished by polling the token endpoint. A setup is no login: it is the
// page that takes the client id of an app that has none yet (setup.go).
const (
	FlowCode     FlowKind = "code" // LoginLAN
	FlowRelay    FlowKind = "relay"
	FlowLoopback FlowKind = "loopback"
	FlowDevice   FlowKind = "device"
	FlowSetup    FlowKind = "setup"
)

// Flow is a pending login. It is single-use: the answer that spends its
// state marks it spent, and the token's write or the login's failure
// deletes it. A login still stored spent by a run of the daemon that has
// ended was interrupted (kill -9, a crash, a power cut during the code
// exchange): the next run reports it and keeps it a while, marked, to
// answer the phone's retry.
type Flow struct {
	ID       string   `json:"id"`
	Kind     FlowKind `json:"kind"`
	MungedID string   `json:"munged_id"`
	// ClientID and TokenEnd are the app's when the login began, and Binding
	// fingerprints its client and every endpoint its secrets go to: a login
	// is finished under the registration it was started for, or not at all.
	ClientID    string    `json:"client_id"`
	TokenEnd    string    `json:"token_endpoint"`
	Binding     string    `json:"binding,omitempty"`
	State       Secret    `json:"state"`
	Verifier    Secret    `json:"verifier,omitempty"`
	RedirectURI string    `json:"redirect_uri"`
	AuthURL     string    `json:"auth_url"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`

	// A device login (FlowDevice) has no state and no redirect: it has the
	// provider's device authorization answer (RFC 8628 §3.2) and the
	// interval between polls, which slow_down stretches.
	DeviceCode              Secret        `json:"device_code,omitempty"`
	UserCode                string        `json:"user_code,omitempty"`
	VerificationURI         string        `json:"verification_uri,omitempty"`
	VerificationURIComplete string        `json:"verification_uri_complete,omitempty"`
	Interval                time.Duration `json:"interval,omitempty"`

	// A setup (FlowSetup) has no state either: it has the random key its
	// page's form posts back, and the redirect URI the page showed.
	SetupKey Secret `json:"setup_key,omitempty"`

	// Spent is when an answer spent the login's state and its code went to
	// be exchanged, by the run of the daemon named by SpentBy (a random id
	// per run); zero while the login waits for its answer.
	Spent   time.Time `json:"spent,omitzero"`
	SpentBy string    `json:"spent_by,omitempty"`
	// Interrupted is when a later run found the login spent and reported
	// it; Expires is then when the record of it goes.
	Interrupted time.Time `json:"interrupted,omitzero"`
}

// startedUnder reports whether the flow was started under the app's
// registration as it is: the same client, the same endpoints and the same
// login mode. A login started before a re-registration that moved them
// would hand its token to the new endpoints; one of another mode is not
// how the app logs in any more (Register ends those).
func (f *Flow) startedUnder(app *App) bool {
	return f.ClientID == app.ClientID && f.TokenEnd == app.TokenEndpoint && f.Binding == app.binding() && f.Kind == app.flowKind()
}

// flowKind is the kind of the logins the app's mode starts.
func (a *App) flowKind() FlowKind {
	if a.LoginMode() == LoginDevice {
		return FlowDevice
	}
	return flowKind(a.LoginMode())
}

// UserURL is the address the user opens for the flow: the verification URI
// of a device login (the complete one where the provider gave it), else the
// authorization URL.
func (f *Flow) UserURL() string {
	if f.Kind == FlowDevice {
		if f.VerificationURIComplete != "" {
			return f.VerificationURIComplete
		}
		return f.VerificationURI
	}
	return f.AuthURL
}

// LogValue implements slog.LogValuer: an App logs as its ids and settings,
// never its client secret, in every handler (JSON included).
func (a App) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("munged_id", a.MungedID()),
		slog.String("login", a.LoginMode()),
		slog.String("client_id", a.ClientID),
		slog.Bool("has_secret", a.ClientSecret != ""),
		slog.String("token_endpoint", a.TokenEndpoint),
		slog.Bool("needs_reauth", a.NeedsReauth),
	)
}

// LogValue implements slog.LogValuer: a Token logs as its shape, never its
// access or refresh token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", t.TokenType),
		slog.Bool("refreshable", t.RefreshToken != ""),
		slog.Time("expiry", t.Expiry),
		slog.String("scope", t.Scope),
	)
}

// LogValue implements slog.LogValuer: a Flow logs as its tag, kind and
// times, never its id (which opens it), state, verifier, device code or
// setup key.
func (f Flow) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tag", FlowTag(f.ID)),
		slog.String("kind", string(f.Kind)),
		slog.String("munged_id", f.MungedID),
		slog.Time("expires", f.Expires),
	)
}
