package oauth

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// Provider is what ovos-oauth knows of a provider a registration may name
// instead of giving endpoints: where its endpoints are, the login mode that
// works there, and its quirks. Fields the registration gives win.
type Provider struct {
	Name               string
	Title              string // the service's name as people know it, for pages: "Spotify"
	AuthEndpoint       string
	TokenEndpoint      string
	DeviceEndpoint     string
	RevocationEndpoint string
	// Login is the mode that works with the provider's rules for redirect
	// URIs, used when the registration names none.
	Login string
	// TokenAuth is how the provider wants the client authenticated.
	TokenAuth string
	// ScopeSeparator is "" for a space.
	ScopeSeparator string
	// AuthParams are added to the authorization request (the registration's
	// own win key by key).
	AuthParams map[string]string
	// Instance is set for self-hosted providers: the endpoints are paths
	// under the registration's instance_url.
	Instance bool
	// Note says, for the README, what rules of the provider's make its
	// login mode the one that works, in sentences.
	Note string

	// LoginMonths is how many months after the user logged in the
	// provider ends the login, however often its token is refreshed
	// (Spotify); 0 for no such end. A refresh_token_expires_in in a token
	// answer wins over it.
	LoginMonths int
	// IdleLifetime is how long the provider keeps a login whose refresh
	// token is not used (Google, Microsoft, Home Assistant); 0 for no such
	// limit. The schedule refreshes such an app at least every quarter of
	// it, so its login never ends that way.
	IdleLifetime time.Duration
	// LoginEnds says in words how the provider ends logins; for
	// LoginMonths, it is the reason oauth.reauth.upcoming gives.
	LoginEnds string
	// Console is the provider's developer console, where a household
	// makes its own app; "" for a provider without one.
	Console string
	// Steps say how to make the app there, for the setup page and the
	// README (SetupSteps); none for a provider that needs no app.
	Steps []SetupStep
}

// SetupStep is one step of making an app at a provider's developer
// console, as the setup page and the README say it.
type SetupStep struct {
	// Say is what to do: a message of the catalogue, whose {value} and
	// {secret} the step fills, {console} the provider's console and
	// {service} its Title.
	Say i18n.Key
	// Value is the console's own words for what to choose, tick, switch
	// on or fill in ("Web API"), which stay as the console shows them in
	// every language; of a copy step, its name of the client id, and
	// Secret its name of the secret.
	Value, Secret string
	// For limits the step to the logins that need it: forRedirect (lan,
	// relay and loopback logins, which have a redirect URI) or
	// forDevice; "" is for all.
	For string
}

// What SetupStep.For may say.
const (
	forRedirect = "redirect"
	forDevice   = "device"
)

// ShowsRedirect says what the step gives to copy after its sentence: the
// redirect URI, only its host, or nothing.
func (s SetupStep) ShowsRedirect() (uri, hostOnly bool) {
	switch s.Say {
	case i18n.SetupStepRedirect, i18n.SetupStepGenericRedirect:
		return true, false
	case i18n.SetupStepRedirectHost:
		return true, true
	}
	return false, false
}

// genericSteps are those of a provider the table does not know.
var genericSteps = []SetupStep{
	{Say: i18n.SetupStepGenericCreate},
	{Say: i18n.SetupStepGenericRedirect, For: forRedirect},
	{Say: i18n.SetupStepGenericDevice, For: forDevice},
	{Say: i18n.SetupStepGenericCopy},
}

// SetupSteps returns the steps of making an app at the provider for logins
// in a login mode (the Login constants): those of the table, else, for a
// provider it does not know (the zero Provider), steps that fit any.
func (p Provider) SetupSteps(login string) []SetupStep {
	steps := p.Steps
	if p.Name == "" {
		steps = genericSteps
	}
	want := forRedirect
	if login == LoginDevice {
		want = forDevice
	}
	var out []SetupStep
	for _, s := range steps {
		if s.For == "" || s.For == want {
			out = append(out, s)
		}
	}
	return out
}

// RedirectHost is the host of a redirect URI, for a console that takes only
// that (Strava's "Authorization Callback Domain").
func RedirectHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Hostname()
}

// Provider lifetimes as the providers document them.
const (
	day = 24 * time.Hour
	// Six months unused, read as a little less than the shortest six
	// months: a quarter of it is 45 days.
	sixMonthsIdle = 180 * day
)

// Providers is the table of known providers, the one the README shows.
var Providers = []Provider{
	{
		Name:          "spotify",
		Title:         "Spotify",
		AuthEndpoint:  "https://accounts.spotify.com/authorize",
		TokenEndpoint: "https://accounts.spotify.com/api/token",
		Login:         LoginLoopback,
		TokenAuth:     TokenAuthBasic,
		Note:          "Spotify takes a plain-http redirect URI only for the loopback literals 127.0.0.1 and [::1] (no localhost), hence the loopback login. A development app has at most 5 users and one client id per developer: each household makes its own.",
		LoginMonths:   6,
		LoginEnds:     "Spotify ends every login 6 months after it began, however often it is refreshed",
		Console:       "https://developer.spotify.com/dashboard",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpen, Value: "Create app"},
			{Say: i18n.SetupStepRedirect, Value: "Redirect URIs", For: forRedirect},
			{Say: i18n.SetupStepTick, Value: "Web API"},
			{Say: i18n.SetupStepCopy, Value: "Client ID", Secret: "Client secret"},
		},
	},
	{
		Name:               "google",
		Title:              "Google",
		AuthEndpoint:       "https://accounts.google.com/o/oauth2/v2/auth",
		TokenEndpoint:      "https://oauth2.googleapis.com/token",
		DeviceEndpoint:     "https://oauth2.googleapis.com/device/code",
		RevocationEndpoint: "https://oauth2.googleapis.com/revoke",
		Login:              LoginDevice,
		TokenAuth:          TokenAuthPost,
		// A refresh token only with offline access, and again on every
		// consent only with prompt=consent (code logins; relay mode).
		AuthParams:   map[string]string{"access_type": "offline", "prompt": "consent"},
		Note:         "Google takes https redirect URIs only, no raw IP addresses, and no embedded browsers. Its device grant covers a limited set of scopes (profile, Drive files, YouTube, …; Calendar and Gmail answer invalid_scope): for the others use `login: relay`. An app left in \"Testing\" gets refresh tokens that end after 7 days.",
		IdleLifetime: sixMonthsIdle,
		LoginEnds:    "Google ends a login after 6 months unused, and after 7 days for an app in \"Testing\"",
		Console:      "https://console.cloud.google.com/apis/credentials",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpen, Value: "Create credentials → OAuth client ID"},
			{Say: i18n.SetupStepChoose, Value: "TVs and Limited Input devices", For: forDevice},
			{Say: i18n.SetupStepChoose, Value: "Web application", For: forRedirect},
			{Say: i18n.SetupStepRedirect, Value: "Authorized redirect URIs", For: forRedirect},
			{Say: i18n.SetupStepCopy, Value: "Client ID", Secret: "Client secret"},
		},
	},
	{
		Name:           "microsoft",
		Title:          "Microsoft",
		AuthEndpoint:   "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		TokenEndpoint:  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		DeviceEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
		Login:          LoginDevice,
		TokenAuth:      TokenAuthPost,
		Note:           "Microsoft takes https redirect URIs, or http for localhost only, hence the device grant, which needs a public client. A work account's Conditional Access may block it.",
		IdleLifetime:   90 * day,
		LoginEnds:      "Microsoft ends a login after 90 days unused",
		Console:        "https://entra.microsoft.com/",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpen, Value: "App registrations → New registration"},
			{Say: i18n.SetupStepChoose, Value: "Accounts in any organizational directory and personal Microsoft accounts"},
			{Say: i18n.SetupStepRedirect, Value: "Redirect URI (Web)", For: forRedirect},
			{Say: i18n.SetupStepSwitch, Value: "Allow public client flows", For: forDevice},
			{Say: i18n.SetupStepPress, Value: "Certificates & secrets → New client secret", For: forRedirect},
			{Say: i18n.SetupStepCopy, Value: "Application (client) ID", Secret: "Value (not the Secret ID)", For: forRedirect},
			{Say: i18n.SetupStepCopyID, Value: "Application (client) ID", For: forDevice},
		},
	},
	{
		Name:           "github",
		Title:          "GitHub",
		AuthEndpoint:   "https://github.com/login/oauth/authorize",
		TokenEndpoint:  "https://github.com/login/oauth/access_token",
		DeviceEndpoint: "https://github.com/login/device/code",
		Login:          LoginLAN,
		TokenAuth:      TokenAuthPost,
		Note:           "GitHub takes a plain-http callback URL on the LAN. The device grant works too (`login: device`).",
		Console:        "https://github.com/settings/developers",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpen, Value: "New OAuth App"},
			{Say: i18n.SetupStepRedirect, Value: "Authorization callback URL", For: forRedirect},
			{Say: i18n.SetupStepSwitch, Value: "Enable Device Flow", For: forDevice},
			{Say: i18n.SetupStepPress, Value: "Generate a new client secret", For: forRedirect},
			{Say: i18n.SetupStepCopy, Value: "Client ID", Secret: "Client secret", For: forRedirect},
			{Say: i18n.SetupStepCopyID, Value: "Client ID", For: forDevice},
		},
	},
	{
		Name:          "dropbox",
		Title:         "Dropbox",
		AuthEndpoint:  "https://www.dropbox.com/oauth2/authorize",
		TokenEndpoint: "https://api.dropboxapi.com/oauth2/token",
		Login:         LoginLoopback,
		TokenAuth:     TokenAuthBasic,
		// Without it Dropbox issues no refresh token.
		AuthParams: map[string]string{"token_access_type": "offline"},
		Note:       "Dropbox takes https redirect URIs, or http for localhost and 127.0.0.1 only, hence the loopback login. ovos-oauth asks for `token_access_type=offline`, without which Dropbox gives no refresh token.",
		Console:    "https://www.dropbox.com/developers/apps",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpen, Value: "Create app"},
			{Say: i18n.SetupStepChoose, Value: "Scoped access"},
			{Say: i18n.SetupStepRedirect, Value: "OAuth 2 → Redirect URIs", For: forRedirect},
			{Say: i18n.SetupStepCopy, Value: "App key", Secret: "App secret"},
		},
	},
	{
		Name:           "strava",
		Title:          "Strava",
		AuthEndpoint:   "https://www.strava.com/oauth/authorize",
		TokenEndpoint:  "https://www.strava.com/oauth/token",
		Login:          LoginLAN,
		TokenAuth:      TokenAuthPost,
		ScopeSeparator: ",",
		Note:           "Strava checks only the domain of the callback, so a LAN address works. Scopes are sent comma-separated.",
		Console:        "https://www.strava.com/settings/api",
		Steps: []SetupStep{
			{Say: i18n.SetupStepOpenCreate},
			{Say: i18n.SetupStepRedirectHost, Value: "Authorization Callback Domain", For: forRedirect},
			{Say: i18n.SetupStepCopy, Value: "Client ID", Secret: "Client Secret"},
		},
	},
	{
		Name:               "homeassistant",
		Title:              "Home Assistant",
		AuthEndpoint:       "/auth/authorize",
		TokenEndpoint:      "/auth/token",
		RevocationEndpoint: "/auth/revoke",
		Login:              LoginLAN,
		TokenAuth:          TokenAuthNone,
		Instance:           true,
		Note:               "Home Assistant is on the LAN itself, at `instance_url`. Its client id is a URL whose host must be the redirect URI's (IndieAuth); the skill registers it.",
		IdleLifetime:       90 * day,
		LoginEnds:          "Home Assistant deletes a refresh token after 90 days unused",
		Steps:              []SetupStep{{Say: i18n.SetupStepNoConsole}},
	},
}

// ServiceName returns the name of the service the app logs in to, for
// pages a person reads: its known provider's Title (knownProvider), else
// its app id.
func (a *App) ServiceName() string {
	if p, ok := a.knownProvider(); ok && p.Title != "" {
		return p.Title
	}
	return a.AppID
}

// KnownProvider returns the provider with the name.
func KnownProvider(name string) (Provider, bool) {
	i := slices.IndexFunc(Providers, func(p Provider) bool { return p.Name == name })
	if i < 0 {
		return Provider{}, false
	}
	return Providers[i], true
}

// knownProvider is the provider the app's logins go to: the one its
// registration named, else the one whose token endpoint it registered
// (skills give Spotify's endpoints without naming it). A self-hosted
// provider is known by name only.
func (a *App) knownProvider() (Provider, bool) {
	if a.Provider != "" {
		return KnownProvider(a.Provider)
	}
	u, err := url.Parse(a.TokenEndpoint)
	if err != nil || u.Scheme != "https" {
		return Provider{}, false
	}
	for _, p := range Providers {
		if p.Instance {
			continue
		}
		if pu, err := url.Parse(p.TokenEndpoint); err == nil && strings.EqualFold(pu.Host, u.Host) {
			return p, true
		}
	}
	return Provider{}, false
}

// providerNames lists the known providers, for error messages.
func providerNames() string {
	names := make([]string, len(Providers))
	for i, p := range Providers {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// applyProvider fills what the registration left empty from the provider it
// names. It reports an error for an unknown provider or a self-hosted one
// without its instance URL.
func (r *Registration) applyProvider() error {
	if r.Provider == "" {
		return nil
	}
	p, ok := KnownProvider(r.Provider)
	if !ok {
		return errorf(CodeInvalidRequest, "provider %q is not known; known: %s (or give the endpoints)", r.Provider, providerNames())
	}
	base := ""
	if p.Instance {
		if err := checkEndpoint("instance_url", r.InstanceURL, true); err != nil {
			return errorf(CodeInvalidRequest, "provider %q needs instance_url, the address of its server", p.Name)
		}
		base = strings.TrimRight(r.InstanceURL, "/")
	}
	fill := func(field *string, v string) {
		if *field == "" && v != "" {
			*field = base + v
		}
	}
	fill(&r.AuthEndpoint, p.AuthEndpoint)
	fill(&r.TokenEndpoint, p.TokenEndpoint)
	fill(&r.DeviceEndpoint, p.DeviceEndpoint)
	fill(&r.RevocationEndpoint, p.RevocationEndpoint)
	base = ""
	fill(&r.TokenAuth, p.TokenAuth)
	fill(&r.ScopeSeparator, p.ScopeSeparator)
	fill(&r.Login, p.Login)
	if len(p.AuthParams) > 0 {
		params := make(map[string]string, len(p.AuthParams)+len(r.AuthParams))
		for k, v := range p.AuthParams {
			params[k] = v
		}
		for k, v := range r.AuthParams {
			params[k] = v
		}
		r.AuthParams = params
	}
	return nil
}
