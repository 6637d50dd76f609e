package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// noClient registers an app without a client id, as a skill whose users
// each make their own app at the provider does.
func noClient(r *oauth.Registration) { r.ClientID, r.ClientSecret = "", "" }

// startSetup registers an app without a client id and opens its setup.
func startSetup(t *testing.T, f *fixture, appID string) *oauth.Flow {
	t.Helper()
	f.register(t, appID, noClient)
	fl, app, err := f.e.StartSetup(context.Background(), "skill.test", appID)
	if err != nil {
		t.Fatalf("StartSetup() = %v", err)
	}
	if fl.Kind != oauth.FlowSetup || fl.SetupKey == "" || fl.State != "" || fl.RedirectURI != f.e.RedirectURI(app) {
		t.Fatalf("StartSetup() = %+v, want a setup with a key, no state and the app's redirect URI", fl)
	}
	return fl
}

// TestSetupSavesAsShellDoes: a setup's form saves the client id and secret
// as ovos-shell's credentials message does (typed by the user, kept by a
// registration without credentials), and opens the login in the app's
// mode with them.
func TestSetupSavesAsShellDoes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs bytes.Buffer
	e := oauth.NewEngine(f.db, f.ev, "http://192.0.2.10:36536", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e.Now = f.clk.Now
	f.e = e
	fl := startSetup(t, f, "app")
	st, err := f.e.PendingSetup(context.Background(), fl.ID)
	if err != nil || st.App.AppID != "app" || st.RedirectURI != "http://192.0.2.10:36536/auth/callback/skill.test_app" {
		t.Fatalf("PendingSetup() = %+v, %v", st, err)
	}
	login, app, err := f.e.FinishSetup(context.Background(), fl.ID, fl.SetupKey.Reveal(), "typed-id", "typed-secret")
	if err != nil {
		t.Fatalf("FinishSetup() = %v", err)
	}
	if app.ClientID != "typed-id" || app.ClientSecret != "typed-secret" || !app.CredsFromUser || app.NeedsCreds() {
		t.Errorf("app after the setup = %+v, want the typed credentials, from the user", app)
	}
	u, _ := url.Parse(login.AuthURL)
	if login.Kind != oauth.FlowCode || u.Query().Get("client_id") != "typed-id" || strings.Contains(login.AuthURL, "typed-secret") {
		t.Errorf("login after the setup = %s %s, want a code login with the typed client id", login.Kind, login.AuthURL)
	}
	stored, err := f.e.App("skill.test", "app")
	if err != nil || stored.ClientID != "typed-id" || stored.ClientSecret != "typed-secret" {
		t.Errorf("stored app = %+v, %v", stored, err)
	}
	if again := f.register(t, "app", noClient); again.ClientID != "typed-id" || again.ClientSecret != "typed-secret" {
		t.Errorf("registered again without credentials: %+v, want the typed ones kept", again)
	}
	if strings.Contains(logs.String(), "typed-secret") || strings.Contains(logs.String(), fl.SetupKey.Reveal()) || strings.Contains(logs.String(), fl.ID) {
		t.Errorf("the log holds the secret, the setup key or the link:\n%s", logs.String())
	}
}

// TestSetupGoesOnInTheAppsMode: the login a setup opens is of the app's
// mode: a device login starts at the provider.
func TestSetupGoesOnInTheAppsMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, mode := range []string{oauth.LoginLAN, oauth.LoginLoopback} {
		appID := "app-" + mode
		f.register(t, appID, func(r *oauth.Registration) { noClient(r); r.Login = mode })
		fl, _, err := f.e.StartSetup(context.Background(), "skill.test", appID)
		if err != nil {
			t.Fatal(err)
		}
		login, _, err := f.e.FinishSetup(context.Background(), fl.ID, fl.SetupKey.Reveal(), "typed-id", "")
		if err != nil {
			t.Fatalf("%s: FinishSetup() = %v", mode, err)
		}
		want := map[string]oauth.FlowKind{oauth.LoginLAN: oauth.FlowCode, oauth.LoginLoopback: oauth.FlowLoopback}[mode]
		if login.Kind != want {
			t.Errorf("%s: FinishSetup() opened a %s login, want %s", mode, login.Kind, want)
		}
	}
}

// TestSetupRefusals: a post with another key, no client id, a control
// character, after the setup expired, after the app's endpoints moved, or
// a second time, saves nothing; those that did not spend the setup leave
// it pending for the right post.
func TestSetupRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name           string
		before         func(t *testing.T, f *fixture)
		key            func(fl *oauth.Flow) string
		clientID       string
		secret         oauth.Secret
		code           string
		cause          error
		stillPending   bool
		wantPendingErr string
	}{
		{name: "another key", key: func(*oauth.Flow) string { return "not-the-key" }, clientID: "x", code: oauth.CodeInvalidRequest, cause: oauth.ErrSetupForm, stillPending: true},
		{name: "no key", key: func(*oauth.Flow) string { return "" }, clientID: "x", code: oauth.CodeInvalidRequest, cause: oauth.ErrSetupForm, stillPending: true},
		{name: "no client id", clientID: "", code: oauth.CodeInvalidRequest, cause: oauth.ErrCredentials, stillPending: true},
		{name: "a line break in the secret", clientID: "x", secret: "s\nt", code: oauth.CodeInvalidRequest, cause: oauth.ErrCredentials, stillPending: true},
		{name: "a client id too long", clientID: strings.Repeat("x", 2049), code: oauth.CodeInvalidRequest, cause: oauth.ErrCredentials, stillPending: true},
		{name: "expired", before: func(t *testing.T, f *fixture) { f.clk.Add(11 * time.Minute) }, clientID: "x", code: oauth.CodeExpiredState, wantPendingErr: oauth.CodeExpiredState},
		{name: "endpoints moved", before: func(t *testing.T, f *fixture) {
			f.register(t, "app", func(r *oauth.Registration) { noClient(r); r.TokenEndpoint = "https://elsewhere.example/token" })
		}, clientID: "x", code: oauth.CodeInvalidState, wantPendingErr: oauth.CodeInvalidState},
		{name: "login mode changed", before: func(t *testing.T, f *fixture) {
			f.register(t, "app", func(r *oauth.Registration) { noClient(r); r.Login = oauth.LoginLoopback })
		}, clientID: "x", code: oauth.CodeInvalidState, cause: oauth.ErrLoginEnded, wantPendingErr: oauth.CodeInvalidState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			fl := startSetup(t, f, "app")
			if tt.before != nil {
				tt.before(t, f)
			}
			key := fl.SetupKey.Reveal()
			if tt.key != nil {
				key = tt.key(fl)
			}
			_, _, err := f.e.FinishSetup(ctx, fl.ID, key, tt.clientID, tt.secret)
			if oauth.ErrorCode(err) != tt.code || (tt.cause != nil && !errors.Is(err, tt.cause)) {
				t.Fatalf("FinishSetup() = %v, want %s (%v)", err, tt.code, tt.cause)
			}
			if app, err := f.e.App("skill.test", "app"); err != nil || !app.NeedsCreds() || app.ClientSecret != "" || app.CredsFromUser {
				t.Errorf("app after a refused setup = %+v, %v; want nothing saved", app, err)
			}
			_, err = f.e.PendingSetup(ctx, fl.ID)
			switch {
			case tt.stillPending && err != nil:
				t.Errorf("PendingSetup() after the refusal = %v, want the setup still pending", err)
			case !tt.stillPending && oauth.ErrorCode(err) != tt.wantPendingErr:
				t.Errorf("PendingSetup() after the refusal = %v, want %s", err, tt.wantPendingErr)
			}
			if tt.stillPending {
				if _, _, err := f.e.FinishSetup(ctx, fl.ID, fl.SetupKey.Reveal(), "typed-id", ""); err != nil {
					t.Errorf("the right post after the refusal = %v", err)
				}
			}
		})
	}
}

// TestSetupSingleUse: of two posts of one setup, at once or one after the
// other, one saves; the other is refused as a used setup and saves
// nothing, and the link then says the app is set up.
func TestSetupSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fl := startSetup(t, f, "app")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"first-id", "second-id"} {
		wg.Go(func() {
			_, _, errs[i] = f.e.FinishSetup(context.Background(), fl.ID, fl.SetupKey.Reveal(), id, "")
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered || !errors.Is(err, oauth.ErrSetupDone):
			t.Errorf("the other post = %v, want already_answered: the setup was used", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d posts saved, want 1: %v", ok, errs)
	}
	app, _ := f.e.App("skill.test", "app")
	saved := map[bool]string{true: "first-id", false: "second-id"}[errs[0] == nil]
	if app.ClientID != saved {
		t.Errorf("client id = %q, want %q, the one post that saved", app.ClientID, saved)
	}
	if _, _, err := f.e.FinishSetup(context.Background(), fl.ID, fl.SetupKey.Reveal(), "third-id", ""); !errors.Is(err, oauth.ErrSetupDone) {
		t.Errorf("a post replayed later = %v, want the setup used", err)
	}
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); !errors.Is(err, oauth.ErrSetupDone) {
		t.Errorf("the link after the setup = %v, want it to say the setup was used", err)
	}
	if app, _ := f.e.App("skill.test", "app"); app.ClientID != saved {
		t.Errorf("client id after a replay = %q, want %q kept", app.ClientID, saved)
	}
}

// TestSetupExpiredAfterSweep: a setup link whose setup expired and was
// swept says it expired, as a login's link does.
func TestSetupExpiredAfterSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fl := startSetup(t, f, "app")
	f.clk.Add(11 * time.Minute)
	if n, err := f.db.DeleteExpiredFlows(f.clk.Now()); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredFlows() = %d, %v; want the setup swept", n, err)
	}
	if _, err := f.e.PendingSetup(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeExpiredState {
		t.Errorf("PendingSetup() after the sweep = %v, want expired_state", err)
	}
}

// TestSetupLinkIsNotALogin: a setup's link is no login, and a login's link
// no setup: neither opens the other's page or takes the other's post.
func TestSetupLinkIsNotALogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "other", nil)
	login, _ := f.start(t, "other")
	if _, err := f.e.PendingSetup(context.Background(), login.ID); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("PendingSetup(a login's link) = %v, want invalid_state", err)
	}
	if _, _, err := f.e.FinishSetup(context.Background(), login.ID, "", "typed-id", ""); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("FinishSetup(a login's link) = %v, want invalid_state", err)
	}
	fl := startSetup(t, f, "app")
	// No state: no provider answer can name it.
	if _, err := f.complete("app", url.Values{"state": {fl.SetupKey.Reveal()}, "code": {"c"}}); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("Complete() with the setup's key as state = %v, want invalid_state", err)
	}
	if _, err := f.e.PendingSetup(context.Background(), fl.ID); err != nil {
		t.Errorf("the setup after a forged answer = %v, want it pending", err)
	}
}

// TestSetupKnowsTheProviderByItsEndpoints: a skill that registers
// Spotify's endpoints without naming the provider gets Spotify's steps and
// name on its setup page.
func TestSetupKnowsTheProviderByItsEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", func(r *oauth.Registration) {
		noClient(r)
		r.AuthEndpoint, r.TokenEndpoint, r.Login = "https://accounts.spotify.com/authorize", "https://accounts.spotify.com/api/token", oauth.LoginLoopback
	})
	fl, _, err := f.e.StartSetup(context.Background(), "skill.test", "app")
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.e.PendingSetup(context.Background(), fl.ID)
	if err != nil || st.Provider.Name != "spotify" || st.App.ServiceName() != "Spotify" {
		t.Errorf("PendingSetup() = %+v, %v; want Spotify's steps and name", st, err)
	}
}
