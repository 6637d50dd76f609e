package oauth_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestTokenInMemory: TokenInMemory answers exactly when Token would hand
// out the stored token as it is and the store holds app and token in
// memory, and then with what Token returns; in every other case it says
// no, so that the request goes to Token, on the queue.
func TestTokenInMemory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	stored := f.loggedIn(t, "app") // AT-1, an hour long, with a refresh token
	inMemory := func() (*oauth.Token, bool) {
		t.Helper()
		_, tok, ok := f.e.TokenInMemory("skill.test", "app")
		return tok, ok
	}

	// Stored again: the store forgets what it held, and only a read of the
	// file (Token's) brings the token back into memory.
	if err := f.db.PutToken("skill.test_app", stored); err != nil {
		t.Fatal(err)
	}
	if _, ok := inMemory(); ok {
		t.Fatal("TokenInMemory answered for a token only on disk")
	}
	_, want, err := f.e.Token(ctx, "skill.test", "app")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := inMemory()
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("TokenInMemory() = %+v, %v; want Token's %+v", got, ok, want)
	}
	if got.AccessToken.Reveal() != "AT-1" {
		t.Fatalf("access token %q, want AT-1", got.AccessToken.Reveal())
	}

	// Ids that are not valid, or that reach another app's record (a and
	// b_c share the munged id of a_b and c), or no app at all.
	for _, ids := range [][2]string{{"", "app"}, {"skill.test", ""}, {"skill test", "app"}, {"skill", "test_app"}, {"skill.test", "other"}} {
		if _, _, ok := f.e.TokenInMemory(ids[0], ids[1]); ok {
			t.Errorf("TokenInMemory(%q, %q) answered", ids[0], ids[1])
		}
	}
	f.register(t, "none", nil) // registered, never logged in
	if _, _, err := f.e.Token(ctx, "skill.test", "none"); oauth.ErrorCode(err) != oauth.CodeNotAuthorized {
		t.Fatalf("Token() of an app without a login = %v", err)
	}
	if _, _, ok := f.e.TokenInMemory("skill.test", "none"); ok {
		t.Error("TokenInMemory answered for an app without a token")
	}

	// Due for a refresh: past half its life and within RefreshMargin of
	// its end, Token refreshes it; TokenInMemory leaves it to Token.
	f.clk.Add(time.Hour - f.e.RefreshMargin/2)
	if _, ok := inMemory(); ok {
		t.Error("TokenInMemory answered with a token due for a refresh")
	}
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	if _, tok, err := f.e.Token(ctx, "skill.test", "app"); err != nil || tok.AccessToken.Reveal() != "AT-2" {
		t.Fatalf("Token() = %v, %v; want the refreshed AT-2", tok, err)
	}
	// The refresh stored it; the next Token reads it back into memory.
	if _, _, err := f.e.Token(ctx, "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if got, ok := inMemory(); !ok || got.AccessToken.Reveal() != "AT-2" {
		t.Errorf("after the refresh and a read: TokenInMemory() = %v, %v; want AT-2", got, ok)
	}

	// An app whose login the provider no longer accepts: Token says so.
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	if _, _, err := f.e.Refresh(ctx, "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Refresh() = %v, want reauth_required", err)
	}
	if _, _, err := f.e.Token(ctx, "skill.test", "app"); oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Token() = %v, want reauth_required", err)
	}
	if _, ok := inMemory(); ok {
		t.Error("TokenInMemory answered for an app that must log in again")
	}
}
