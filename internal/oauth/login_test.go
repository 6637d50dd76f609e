package oauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

func TestLoginModes(t *testing.T) {
	t.Parallel()
	const relay = "https://relay.example/ovos/"
	tests := []struct {
		name     string
		daemon   string // the daemon's relay_url
		mod      func(r *oauth.Registration)
		login    string
		redirect string
	}{
		{"default", "", nil, oauth.LoginLAN, "http://192.0.2.10:36536/auth/callback/skill.test_app"},
		{"lan with its own redirect", "", func(r *oauth.Registration) { r.RedirectURI = "https://proxy.example/cb" }, oauth.LoginLAN, "https://proxy.example/cb"},
		{"device endpoint", relay, func(r *oauth.Registration) { r.DeviceEndpoint = "https://p.example/device" }, oauth.LoginDevice, ""},
		{"daemon relay", relay, nil, oauth.LoginRelay, relay},
		{"app's relay", "", func(r *oauth.Registration) { r.RelayURL = "https://mine.example/r" }, oauth.LoginRelay, "https://mine.example/r"},
		{"app's relay over the daemon's", relay, func(r *oauth.Registration) { r.RelayURL = "https://mine.example/r" }, oauth.LoginRelay, "https://mine.example/r"},
		{"lan named over a daemon relay", relay, func(r *oauth.Registration) { r.Login = oauth.LoginLAN }, oauth.LoginLAN, "http://192.0.2.10:36536/auth/callback/skill.test_app"},
		{"loopback", relay, func(r *oauth.Registration) { r.Login = oauth.LoginLoopback }, oauth.LoginLoopback, "http://127.0.0.1:36536/auth/callback/skill.test_app"},
		{"device named with an endpoint", "", func(r *oauth.Registration) {
			r.Login, r.DeviceEndpoint = oauth.LoginDevice, "https://p.example/device"
		}, oauth.LoginDevice, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.e.RelayURL = tt.daemon
			app := f.register(t, "app", tt.mod)
			if app.LoginMode() != tt.login || f.e.RedirectURI(app) != tt.redirect {
				t.Errorf("login %q, redirect %q; want %q, %q", app.LoginMode(), f.e.RedirectURI(app), tt.login, tt.redirect)
			}
			st, err := f.e.Status(context.Background(), "")
			if err != nil || len(st) != 1 || st[0].Login != tt.login || st[0].RedirectURI != tt.redirect {
				t.Errorf("Status() = %+v, %v", st, err)
			}
			if tt.login == oauth.LoginDevice {
				return
			}
			_, q := f.start(t, "app")
			if q.Get("redirect_uri") != tt.redirect {
				t.Errorf("authorization URL redirect_uri = %q, want %q", q.Get("redirect_uri"), tt.redirect)
			}
		})
	}
}

func TestLoginModeRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(r *oauth.Registration)
		want string // in the description
	}{
		{"unknown mode", func(r *oauth.Registration) { r.Login = "carrier-pigeon" }, "login must be"},
		{"relay without a relay page", func(r *oauth.Registration) { r.Login = oauth.LoginRelay }, "relay page"},
		{"device without an endpoint", func(r *oauth.Registration) { r.Login = oauth.LoginDevice }, "device_endpoint"},
		{"plain http relay", func(r *oauth.Registration) { r.RelayURL = "http://relay.example/" }, "https"},
		{"relay with a query", func(r *oauth.Registration) { r.RelayURL = "https://relay.example/?x=1" }, "query"},
		{"relay with an empty query", func(r *oauth.Registration) { r.RelayURL = "https://relay.example/?" }, "query"},
		{"relay with an empty fragment", func(r *oauth.Registration) { r.RelayURL = "https://relay.example/#" }, "fragment"},
		{"unknown provider", func(r *oauth.Registration) { r.Provider = "myspace" }, "not known"},
		{"home assistant without its address", func(r *oauth.Registration) {
			r.Provider, r.AuthEndpoint, r.TokenEndpoint = "homeassistant", "", ""
		}, "instance_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r := oauth.Registration{SkillID: "skill.test", AppID: "app", ClientID: "cid",
				AuthEndpoint: "https://p.example/auth", TokenEndpoint: "https://p.example/token"}
			tt.mod(&r)
			_, err := f.e.Register(context.Background(), r)
			if oauth.ErrorCode(err) != oauth.CodeInvalidRequest || !strings.Contains(oauth.ErrorDescription(err), tt.want) {
				t.Errorf("Register() = %v, want invalid_request about %q", err, tt.want)
			}
		})
	}
}

// TestRelayLogin: the state carries the device's callback for the relay
// page, the provider is sent the relay URL in both requests, and the answer
// may land on either address.
func TestRelayLogin(t *testing.T) {
	t.Parallel()
	const relay = "https://relay.example/ovos/"
	for _, landed := range []string{"", relay, "http://192.0.2.10:36536/auth/callback/skill.test_app"} {
		t.Run("landed="+landed, func(t *testing.T) {
			f := newFixture(t)
			f.e.RelayURL = relay
			f.register(t, "app", nil)
			fl, q := f.start(t, "app")
			if fl.Kind != oauth.FlowRelay || q.Get("redirect_uri") != relay {
				t.Fatalf("flow kind %q, redirect_uri %q", fl.Kind, q.Get("redirect_uri"))
			}
			random, target, ok := strings.Cut(q.Get("state"), ".")
			if !ok || len(random) != 43 {
				t.Fatalf("state %q: want 43 random characters, a dot and the target", q.Get("state"))
			}
			dec, err := base64.RawURLEncoding.DecodeString(target)
			if err != nil || string(dec) != "http://192.0.2.10:36536/auth/callback/skill.test_app" {
				t.Fatalf("state's target = %q, %v", dec, err)
			}
			_, err = f.e.Complete(context.Background(), "skill.test_app", url.Values{"state": {q.Get("state")}, "code": {"C"}}, landed)
			if err != nil {
				t.Fatalf("Complete() = %v", err)
			}
			if got := f.te.last(t).form.Get("redirect_uri"); got != relay {
				t.Errorf("token request redirect_uri = %q, want the relay's", got)
			}
		})
	}
}

func TestKnownProviders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mod    func(r *oauth.Registration)
		check  func(t *testing.T, app *oauth.App)
		scopeQ string // scope in the authorization URL, "" to skip
	}{
		{"spotify", func(r *oauth.Registration) { r.Provider, r.TokenEndpoint = "spotify", "" }, func(t *testing.T, app *oauth.App) {
			if app.AuthEndpoint != "https://accounts.spotify.com/authorize" || app.TokenEndpoint != "https://accounts.spotify.com/api/token" ||
				app.LoginMode() != oauth.LoginLoopback || app.TokenAuth != oauth.TokenAuthBasic {
				t.Errorf("spotify app = %+v", app)
			}
		}, "read write"},
		{"strava commas", func(r *oauth.Registration) { r.Provider, r.Scope = "strava", "read activity:read_all" }, func(t *testing.T, app *oauth.App) {
			if app.LoginMode() != oauth.LoginLAN || app.TokenAuth != oauth.TokenAuthPost {
				t.Errorf("strava app = %+v", app)
			}
		}, "read,activity:read_all"},
		{"google", func(r *oauth.Registration) { r.Provider = "google" }, func(t *testing.T, app *oauth.App) {
			if app.LoginMode() != oauth.LoginDevice || app.DeviceEndpoint != "https://oauth2.googleapis.com/device/code" || app.AuthParams["access_type"] != "offline" {
				t.Errorf("google app = %+v", app)
			}
		}, ""},
		{"google in relay mode keeps its own auth params", func(r *oauth.Registration) {
			r.Provider, r.Login, r.RelayURL, r.AuthParams = "google", oauth.LoginRelay, "https://relay.example/", map[string]string{"prompt": "select_account"}
		}, func(t *testing.T, app *oauth.App) {
			if app.LoginMode() != oauth.LoginRelay || app.AuthParams["prompt"] != "select_account" || app.AuthParams["access_type"] != "offline" {
				t.Errorf("google relay app = %+v", app)
			}
		}, "read write"},
		{"home assistant", func(r *oauth.Registration) {
			r.Provider, r.InstanceURL, r.AuthEndpoint, r.TokenEndpoint = "homeassistant", "http://ha.local:8123/", "", ""
		}, func(t *testing.T, app *oauth.App) {
			if app.AuthEndpoint != "http://ha.local:8123/auth/authorize" || app.TokenEndpoint != "http://ha.local:8123/auth/token" || app.RevocationEndpoint != "http://ha.local:8123/auth/revoke" || app.TokenAuth != oauth.TokenAuthNone {
				t.Errorf("home assistant app = %+v", app)
			}
		}, ""},
		{"registration's fields win", func(r *oauth.Registration) { r.Provider, r.Login = "spotify", oauth.LoginLAN }, func(t *testing.T, app *oauth.App) {
			if app.LoginMode() != oauth.LoginLAN || app.TokenEndpoint == "https://accounts.spotify.com/api/token" {
				t.Errorf("app = %+v, want the registration's login and token endpoint", app)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			app := f.register(t, "app", func(r *oauth.Registration) {
				r.AuthEndpoint = ""
				tt.mod(r)
			})
			tt.check(t, app)
			if tt.scopeQ != "" {
				if _, q := f.start(t, "app"); q.Get("scope") != tt.scopeQ {
					t.Errorf("authorization URL scope = %q, want %q", q.Get("scope"), tt.scopeQ)
				}
			}
		})
	}
	for _, p := range oauth.Providers {
		if p.Login == "" || p.TokenEndpoint == "" || p.Note == "" {
			t.Errorf("provider %s lacks a login mode, a token endpoint or a note", p.Name)
		}
	}
}

// TestRelayTargetLowercase: the relay page accepts one spelling of a host,
// lowercase; a public_host typed in capitals still reaches the device.
func TestRelayTargetLowercase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := oauth.NewEngine(f.db, nil, "http://OVOS-Kitchen.Local:36536", slog.New(slog.DiscardHandler))
	e.RelayURL = "https://relay.example/"
	if _, err := e.Register(context.Background(), oauth.Registration{SkillID: "skill.test", AppID: "Spotify", ClientID: "c",
		AuthEndpoint: "https://p.example/a", TokenEndpoint: "https://p.example/t"}); err != nil {
		t.Fatal(err)
	}
	fl, _, err := e.StartFlow(context.Background(), "skill.test", "Spotify")
	if err != nil {
		t.Fatal(err)
	}
	_, target, _ := strings.Cut(fl.State.Reveal(), ".")
	dec, _ := base64.RawURLEncoding.DecodeString(target)
	if string(dec) != "http://ovos-kitchen.local:36536/auth/callback/skill.test_Spotify" {
		t.Errorf("relay target = %q, want the host lowercase and the app id as it is", dec)
	}
}

// TestCompleteFlowOnlyItsOwnLogin: an answer bound to one pending login
// (pasted on its page) that carries another's state, of the same app, is
// refused before anything is spent; that other login then completes.
func TestCompleteFlowOnlyItsOwnLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", func(r *oauth.Registration) { r.Login = oauth.LoginLoopback })
	a, _ := f.start(t, "app")
	b, qb := f.start(t, "app")
	answerB := url.Values{"state": {qb.Get("state")}, "code": {"C"}}
	landed := "http://127.0.0.1:36536/auth/callback/skill.test_app"

	_, err := f.e.CompleteFlow(context.Background(), a.ID, "skill.test_app", answerB, landed)
	if !errors.Is(err, oauth.ErrOtherLogin) || oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Fatalf("CompleteFlow(a, b's answer) = %v, want invalid_state for another login", err)
	}
	if n := f.te.count(); n != 0 {
		t.Errorf("%d token requests for a refused answer", n)
	}
	if len(f.ev.failed) != 0 {
		t.Errorf("failures reported: %v", f.ev.failed)
	}
	if _, err := f.e.CompleteFlow(context.Background(), b.ID, "skill.test_app", answerB, landed); err != nil {
		t.Fatalf("CompleteFlow(b, b's answer) = %v, want the token", err)
	}
	if _, err := f.db.Token("skill.test_app"); err != nil {
		t.Fatalf("no token stored after CompleteFlow(b, b's answer): %v", err)
	}
}

// TestRelayWarning: a relay app whose device address the relay page
// refuses gets a warning that names the address and says what to do; an
// address the page accepts, or an app in another mode, gets none.
func TestRelayWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base string
		warn bool
	}{
		{"http://192.168.1.20:36536", false},
		{"http://OVOS.local:36536", false}, // written lowercase into the state
		{"http://ovos.home.arpa:36536", false},
		{"http://[fd00::5]:36536", false},
		{"http://ovos.lan:36536", true},
		{"http://ovos.fritz.box:36536", true},
		{"http://[2a02:8070::5]:36536", true},
		{"http://[fd00:0::5]:36536", true}, // not as a browser writes it
		{"http://203.0.113.7:36536", true},
	}
	db := storetest.Open(t)
	relayApp := &oauth.App{SkillID: "skill.test", AppID: "app", Login: oauth.LoginRelay}
	lanApp := &oauth.App{SkillID: "skill.test", AppID: "app", Login: oauth.LoginLAN}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			e := oauth.NewEngine(db, nil, tt.base, slog.New(slog.DiscardHandler))
			e.RelayURL = "https://relay.example/ovos/"
			w := e.RelayWarning(relayApp)
			if (w != "") != tt.warn || e.RelayRefusesHost() != tt.warn {
				t.Fatalf("RelayWarning() = %q, RelayRefusesHost() = %v; want a warning: %v", w, e.RelayRefusesHost(), tt.warn)
			}
			host := strings.Trim(tt.base[len("http://"):strings.LastIndex(tt.base, ":")], "[]")
			if tt.warn && (!strings.Contains(w, host) || !strings.Contains(w, "set public_host to this device's LAN IP address")) {
				t.Errorf("RelayWarning() = %q, want it to name %s and say what to do", w, host)
			}
			if w := e.RelayWarning(lanApp); w != "" {
				t.Errorf("RelayWarning() of a lan app = %q, want none", w)
			}
		})
	}
}
