package oauth

import (
	"net/url"
	"slices"
	"strings"
	"time"
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
	// Note says, for the README, why this mode and what to register.
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
		Note:          "plain http only for the loopback literals 127.0.0.1 and [::1]",
		LoginMonths:   6,
		LoginEnds:     "Spotify ends every login 6 months after it began, however often it is refreshed",
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
		Note:         "https only, no raw IPs, no embedded browsers; the device grant needs a \"TVs and Limited Input devices\" client and covers a limited set of scopes, relay mode the rest",
		IdleLifetime: sixMonthsIdle,
		LoginEnds:    "Google ends a login after 6 months unused, and after 7 days for an app in \"Testing\"",
	},
	{
		Name:           "microsoft",
		Title:          "Microsoft",
		AuthEndpoint:   "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		TokenEndpoint:  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		DeviceEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
		Login:          LoginDevice,
		TokenAuth:      TokenAuthPost,
		Note:           "https except localhost; the device grant needs \"Allow public client flows\" on the app registration",
		IdleLifetime:   90 * day,
		LoginEnds:      "Microsoft ends a login after 90 days unused",
	},
	{
		Name:           "github",
		Title:          "GitHub",
		AuthEndpoint:   "https://github.com/login/oauth/authorize",
		TokenEndpoint:  "https://github.com/login/oauth/access_token",
		DeviceEndpoint: "https://github.com/login/device/code",
		Login:          LoginLAN,
		TokenAuth:      TokenAuthPost,
		Note:           "accepts a plain-http LAN callback URL; the device grant works too once \"Enable Device Flow\" is ticked",
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
		Note:       "https except http://localhost and http://127.0.0.1",
	},
	{
		Name:           "strava",
		Title:          "Strava",
		AuthEndpoint:   "https://www.strava.com/oauth/authorize",
		TokenEndpoint:  "https://www.strava.com/oauth/token",
		Login:          LoginLAN,
		TokenAuth:      TokenAuthPost,
		ScopeSeparator: ",",
		Note:           "checks only the callback's domain, so a LAN address works; scopes are comma-separated",
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
		Note:               "on the LAN itself; the client id is a URL (IndieAuth) whose host must be the redirect URI's",
		IdleLifetime:       90 * day,
		LoginEnds:          "Home Assistant deletes a refresh token after 90 days unused",
	},
}

// ServiceName returns the name of the service the app logs in to, for
// pages a person reads: its known provider's Title, else its app id.
func (a *App) ServiceName() string {
	if p, ok := KnownProvider(a.Provider); ok && p.Title != "" {
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
