package oauth_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestLinkAfterLogin: the short link of a login that finished, opened
// again, says so (already_answered, ErrLoginFinished), and so does the
// provider's answer loaded again; neither is "unknown".
func TestLinkAfterLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, q := f.start(t, "app")
	answer := url.Values{"state": {q.Get("state")}, "code": {"C"}}
	if _, err := f.complete("app", answer); err != nil {
		t.Fatal(err)
	}
	_, err := f.e.PendingFlow(context.Background(), fl.ID)
	if oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered || !errors.Is(err, oauth.ErrLoginFinished) {
		t.Errorf("PendingFlow() of a finished login = %v, want already_answered, ErrLoginFinished", err)
	}
	if _, err := f.complete("app", answer); !errors.Is(err, oauth.ErrLoginFinished) {
		t.Errorf("Complete() again = %v, want ErrLoginFinished", err)
	}
	// A day later the link is forgotten: unknown, as any other.
	f.clk.Add(25 * time.Hour)
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("PendingFlow() a day later = %v, want invalid_state", err)
	}
}

// TestLinkAfterFailure: the link of a login that ended without a token
// says that it ended, not that it finished.
func TestLinkAfterFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, q := f.start(t, "app")
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); oauth.ErrorCode(err) != oauth.CodeExchangeFailed {
		t.Fatalf("Complete() = %v, want exchange_failed", err)
	}
	_, err := f.e.PendingFlow(context.Background(), fl.ID)
	if oauth.ErrorCode(err) != oauth.CodeAlreadyAnswered || !errors.Is(err, oauth.ErrLoginFailed) {
		t.Errorf("PendingFlow() of a failed login = %v, want already_answered, ErrLoginFailed", err)
	}
}

// TestLinkExpiredAfterSweep: a link that expired says so, before the sweep
// deleted its login and after.
func TestLinkExpiredAfterSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, "app", nil)
	fl, _ := f.start(t, "app")
	f.clk.Add(11 * time.Minute)
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeExpiredState {
		t.Errorf("PendingFlow() after expiry = %v, want expired_state", err)
	}
	if n, err := f.db.DeleteExpiredFlows(f.clk.Now()); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredFlows() = %d, %v; want the login swept", n, err)
	}
	if _, err := f.e.PendingFlow(context.Background(), fl.ID); oauth.ErrorCode(err) != oauth.CodeExpiredState {
		t.Errorf("PendingFlow() after the sweep = %v, want expired_state", err)
	}
	// A link this engine never gave out stays unknown.
	if _, err := f.e.PendingFlow(context.Background(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"); oauth.ErrorCode(err) != oauth.CodeInvalidState {
		t.Errorf("PendingFlow() of an unknown link = %v, want invalid_state", err)
	}
}

// TestServiceName: a page names the provider's service, else the app id.
func TestServiceName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		app  oauth.App
		want string
	}{
		{oauth.App{AppID: "music", Provider: "spotify"}, "Spotify"},
		{oauth.App{AppID: "ha", Provider: "homeassistant"}, "Home Assistant"},
		{oauth.App{AppID: "mail", Provider: "google"}, "Google"},
		{oauth.App{AppID: "custom"}, "custom"},
		{oauth.App{AppID: "gone", Provider: "no-such"}, "gone"},
	}
	for _, tt := range tests {
		if got := tt.app.ServiceName(); got != tt.want {
			t.Errorf("ServiceName() of app %s, provider %q = %q, want %q", tt.app.AppID, tt.app.Provider, got, tt.want)
		}
	}
	for _, p := range oauth.Providers {
		if p.Title == "" {
			t.Errorf("provider %s has no Title", p.Name)
		}
	}
}
