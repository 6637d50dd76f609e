package oauth_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestReadsFollowEveryWritePath: the store keeps apps and tokens decoded;
// after each of the engine's write paths the engine's next read (the one
// oauth.token.get makes) sees what that path wrote, never what it had
// read, and so kept, before.
func TestReadsFollowEveryWritePath(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.loggedIn(t, "app")
	token := func() (*oauth.Token, error) {
		t.Helper()
		_, tok, err := f.e.Token(ctx, "skill.test", "app")
		return tok, err
	}
	app := func() *oauth.App {
		t.Helper()
		a, err := f.e.App("skill.test", "app")
		if err != nil {
			t.Fatalf("App() = %v", err)
		}
		return a
	}
	wantToken := func(step, access string) {
		t.Helper()
		tok, err := token()
		if err != nil || tok.AccessToken.Reveal() != access {
			t.Fatalf("%s: Token() = %v, %v; want %s", step, tok, err, access)
		}
	}
	wantCode := func(step, code string) {
		t.Helper()
		if _, err := token(); oauth.ErrorCode(err) != code {
			t.Fatalf("%s: Token() error = %v, want %s", step, err, code)
		}
	}
	wantToken("login", "AT-1")
	_ = app()

	// Registered again with another scope.
	f.register(t, "app", func(r *oauth.Registration) { r.Scope = "read write admin" })
	if got := app().Scope; got != "read write admin" {
		t.Fatalf("register: App().Scope = %q, want the new one", got)
	}
	wantToken("register", "AT-1") // same client and token endpoint: kept

	// Refreshed.
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	if _, _, err := f.e.Refresh(ctx, "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	wantToken("refresh", "AT-2")

	// The provider refuses the refresh token for good.
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	if _, _, err := f.e.Refresh(ctx, "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Refresh() refused = %v", err)
	}
	if !app().NeedsReauth {
		t.Fatal("reauth: App().NeedsReauth = false")
	}
	wantCode("reauth", oauth.CodeReauthRequired)

	// A new login clears it.
	f.te.set(jsonAnswer(200, `{"access_token":"AT-3","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-3"}`))
	_, q := f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	if app().NeedsReauth {
		t.Fatal("login again: App().NeedsReauth = true")
	}
	wantToken("login again", "AT-3")

	// Revoked.
	if _, err := f.e.Revoke(ctx, "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	wantCode("revoke", oauth.CodeNotAuthorized)

	// Logged in again, then other credentials from the user: the token
	// of the old client goes.
	_, q = f.start(t, "app")
	if _, err := f.complete("app", url.Values{"state": {q.Get("state")}, "code": {"C"}}); err != nil {
		t.Fatal(err)
	}
	wantToken("login after revoke", "AT-3")
	if _, err := f.e.SetCredentials(ctx, "skill.test", "app", "another-client", "another-secret"); err != nil {
		t.Fatal(err)
	}
	if got := app().ClientID; got != "another-client" {
		t.Fatalf("credentials: App().ClientID = %q", got)
	}
	wantCode("credentials", oauth.CodeNotAuthorized)

	// Unregistered.
	if _, err := f.e.Unregister(ctx, "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.App("skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeUnknownApp {
		t.Fatalf("unregister: App() = %v, want unknown_app", err)
	}
	wantCode("unregister", oauth.CodeUnknownApp)
}
