package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// loggedIn registers app and completes a login against the fake endpoint.
func (f *fixture) loggedIn(t *testing.T, appID string) *oauth.Token {
	t.Helper()
	f.register(t, appID, nil)
	_, q := f.start(t, appID)
	tok, err := f.complete(appID, url.Values{"state": {q.Get("state")}, "code": {"C"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.clk.Add(30 * time.Minute)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":600,"refresh_token":"RT-2"}`))
	_, tok, err := f.e.Refresh(context.Background(), "skill.test", "app")
	if err != nil {
		t.Fatal(err)
	}
	req := f.te.last(t)
	if req.form.Get("grant_type") != "refresh_token" || req.form.Get("refresh_token") != "RT-1" {
		t.Errorf("refresh request = %v", req.form)
	}
	if tok.AccessToken != "AT-2" || tok.RefreshToken != "RT-2" || !tok.Expiry.Equal(f.clk.Now().Add(600*time.Second)) {
		t.Errorf("refreshed token = %+v, want AT-2, RT-2, expiry from the new expires_in", tok)
	}
	if tok.Scope != "read" {
		t.Errorf("scope = %q, want the old one kept", tok.Scope)
	}
	stored, _ := f.db.Token("skill.test_app")
	if stored.RefreshToken != "RT-2" {
		t.Errorf("stored refresh token = %v, want the rotated one", stored.RefreshToken.Reveal())
	}

	// No refresh_token in the answer: the old one stays.
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":600}`))
	if _, tok, err = f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if f.te.last(t).form.Get("refresh_token") != "RT-2" || tok.RefreshToken != "RT-2" {
		t.Errorf("after a refresh without refresh_token: sent %q, kept %v", f.te.last(t).form.Get("refresh_token"), tok.RefreshToken.Reveal())
	}
	if got := f.ev.snapshot().refresh; len(got) != 2 {
		t.Errorf("TokenRefreshed events = %d, want 2", len(got))
	}
}

func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter, *http.Request)
		code       string
		needReauth bool
	}{
		{"invalid_grant", jsonAnswer(400, `{"error":"invalid_grant"}`), oauth.CodeReauthRequired, true},
		{"invalid_client", jsonAnswer(401, `{"error":"invalid_client"}`), oauth.CodeReauthRequired, true},
		{"500", jsonAnswer(500, `{"error":"server_error"}`), oauth.CodeProviderUnavailable, false},
		{"503 html", jsonAnswer(503, `<html>down</html>`), oauth.CodeProviderUnavailable, false},
		{"garbage", jsonAnswer(200, `{{{`), oauth.CodeProviderUnavailable, false},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, oauth.CodeProviderUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.loggedIn(t, "app")
			if tt.name == "timeout" {
				f.e.HTTPClient.Timeout = 200 * time.Millisecond
			}
			f.te.set(tt.answer)
			_, _, err := f.e.Refresh(context.Background(), "skill.test", "app")
			if oauth.ErrorCode(err) != tt.code {
				t.Fatalf("Refresh() = %v, want %s", err, tt.code)
			}
			stored, serr := f.db.Token("skill.test_app")
			if serr != nil || stored.RefreshToken != "RT-1" || stored.AccessToken != "AT-1" {
				t.Fatalf("token after a failed refresh = %v, %v; want it kept", stored, serr)
			}
			app, _ := f.db.App("skill.test_app")
			if app.NeedsReauth != tt.needReauth {
				t.Errorf("NeedsReauth = %v, want %v", app.NeedsReauth, tt.needReauth)
			}
			// A second attempt: a dead refresh token is not sent again, and
			// the user is told only once.
			before := f.te.count()
			f.e.Refresh(context.Background(), "skill.test", "app")
			ev := f.ev.snapshot()
			if tt.needReauth {
				if f.te.count() != before {
					t.Errorf("a refused refresh token was sent again")
				}
				if len(ev.reauth) != 1 {
					t.Errorf("ReauthRequired events = %v, want exactly one", ev.reauth)
				}
				if _, _, err := f.e.Token(context.Background(), "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
					t.Errorf("Token() = %v, want reauth_required", err)
				}
			} else {
				if f.te.count() != before+1 {
					t.Errorf("a passing fault stopped further refreshes")
				}
				if len(ev.reauth) != 0 {
					t.Errorf("ReauthRequired after a passing fault")
				}
			}
		})
	}
}

func TestReauthClearedByNewLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	f.e.Refresh(context.Background(), "skill.test", "app")
	f.te.set(jsonAnswer(200, `{"access_token":"AT-9","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-9"}`))
	_, q := f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
	if err != nil || tok.AccessToken != "AT-9" {
		t.Fatalf("Token() after a new login = %v, %v", tok, err)
	}
}

func TestTokenRefreshesWhenDue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
	if err != nil || tok.AccessToken != "AT-1" || f.te.count() != 1 {
		t.Fatalf("fresh Token() = %v, %v after %d requests", tok, err, f.te.count())
	}
	f.clk.Add(time.Hour - 30*time.Second) // within the 60 s margin
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":60}`))
	if _, tok, err = f.e.Token(context.Background(), "skill.test", "app"); err != nil || tok.AccessToken != "AT-2" {
		t.Fatalf("due Token() = %v, %v; want a refreshed token", tok, err)
	}
	// A token shorter-lived than the margin is handed out until half its
	// life has passed, not refreshed on every request.
	f.clk.Add(20 * time.Second)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":60}`))
	if _, tok, err = f.e.Token(context.Background(), "skill.test", "app"); err != nil || tok.AccessToken != "AT-2" {
		t.Fatalf("Token() 20 s into a 60 s token = %v, %v; want it as it is", tok, err)
	}
	f.clk.Add(11 * time.Second)
	if _, tok, err = f.e.Token(context.Background(), "skill.test", "app"); err != nil || tok.AccessToken != "AT-3" {
		t.Fatalf("Token() past half a 60 s token = %v, %v; want a refreshed one", tok, err)
	}
	// An expired token without a refresh token cannot be handed out.
	f.register(t, "norefresh", nil)
	_, q := f.start(t, "norefresh")
	f.te.set(jsonAnswer(200, `{"access_token":"X","token_type":"Bearer","expires_in":60}`))
	if _, err := f.complete("norefresh", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	if _, tok, err := f.e.Token(context.Background(), "skill.test", "norefresh"); err != nil || tok.AccessToken != "X" {
		t.Fatalf("Token() of a valid token without refresh token = %v, %v", tok, err)
	}
	f.clk.Add(61 * time.Second)
	if _, _, err := f.e.Token(context.Background(), "skill.test", "norefresh"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Token() of an expired token without refresh token = %v, want reauth_required", err)
	}
}

func TestConcurrentTokenRefreshOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.loggedIn(t, "app")
	f.clk.Add(2 * time.Hour)
	release := make(chan struct{})
	f.te.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`)(w, r)
	})
	const n = 50
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Go(func() {
			_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- tok.AccessToken.Reveal()
		})
	}
	// Hold the provider's answer until the refresh has reached it, so the
	// other askers arrive while it is in flight.
	polltest.Until(t, "two calls of the token endpoint", func() bool { return f.te.count() == 2 })
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "AT-2" {
			t.Errorf("an asker got %q, want AT-2", r)
		}
	}
	if got := f.te.count(); got != 2 { // the login's exchange and one refresh
		t.Errorf("%d requests at the token endpoint, want 2 (one refresh)", got)
	}
}
