package oauth_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// filesFixture is a fixture whose engine mirrors into ovos_utils' files
// at once (mirror.Files), where the test writes as another program would.
func filesFixture(t *testing.T) (*fixture, *mirror.Files) {
	t.Helper()
	f := newFixture(t)
	files := mirror.New(filepath.Join(t.TempDir(), "json_database"))
	files.LockDir = t.TempDir()
	f.e.Mirror = files
	return f, files
}

// theirs writes into the token file a token another program refreshed.
func (f *fixture) theirs(t *testing.T, files *mirror.Files, access, refresh string, expires time.Time) *oauth.Token {
	t.Helper()
	tok := &oauth.Token{AccessToken: oauth.Secret(access), RefreshToken: oauth.Secret(refresh), TokenType: "Bearer", Expiry: expires}
	if err := files.PutToken(&oauth.App{SkillID: "skill.test", AppID: "app"}, tok); err != nil {
		t.Fatal(err)
	}
	got, err := files.Token("skill.test_app")
	if err != nil || got == nil {
		t.Fatalf("Token() = %v, %v", got, err)
	}
	return got
}

func (f *fixture) stored(t *testing.T) *oauth.Token {
	t.Helper()
	tok, err := f.db.Token("skill.test_app")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// MirrorChanged takes a token another program wrote when it is newer than
// the stored one, and announces it; an older one, or one for an app that
// waits for a new login, is left alone.
func TestMirrorChanged(t *testing.T) {
	t.Parallel()
	f, files := filesFixture(t)
	login := f.loggedIn(t, "app")
	now := f.clk.Now()

	f.e.MirrorChanged("skill.test_app", f.theirs(t, files, "AT-older", "RT-older", now.Add(30*time.Minute)))
	if got := f.stored(t); got.AccessToken != "AT-1" {
		t.Errorf("stored %q after an older token in the mirror, want AT-1 kept", got.AccessToken.Reveal())
	}

	f.e.MirrorChanged("skill.test_app", f.theirs(t, files, "AT-theirs", "RT-theirs", now.Add(2*time.Hour)))
	got := f.stored(t)
	if got.AccessToken != "AT-theirs" || got.RefreshToken != "RT-theirs" || !got.Expiry.Equal(now.Add(2*time.Hour)) || got.Scope != login.Scope {
		t.Errorf("stored %+v, want the other program's token, the scope kept", got)
	}
	if ev := f.ev.snapshot(); len(ev.refresh) != 1 {
		t.Errorf("%d refresh events, want 1 for the token taken", len(ev.refresh))
	}
	// The daemon's next refresh presents the other program's refresh token.
	f.clk.Add(2 * time.Hour)
	f.te.set(jsonAnswer(200, `{"access_token":"AT-2","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-2"}`))
	if _, _, err := f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
		t.Fatal(err)
	}
	if rt := f.te.last(t).form.Get("refresh_token"); rt != "RT-theirs" {
		t.Errorf("refresh presented %q, want RT-theirs", rt)
	}

	f.e.MirrorChanged("skill.unknown_app", f.theirs(t, files, "AT-x", "RT-x", f.clk.Now().Add(time.Hour)))
	f.e.MirrorChanged("skill.test_app", nil)
}

// A token due for a refresh is not refreshed when the mirror holds a newer
// one that is not due: another program refreshed it already.
func TestTokenTakesFreshMirrorToken(t *testing.T) {
	t.Parallel()
	f, files := filesFixture(t)
	f.loggedIn(t, "app")
	f.clk.Add(59 * time.Minute)
	f.theirs(t, files, "AT-theirs", "RT-theirs", f.clk.Now().Add(time.Hour))
	requests := f.te.count()
	_, tok, err := f.e.Token(context.Background(), "skill.test", "app")
	if err != nil || tok.AccessToken != "AT-theirs" {
		t.Fatalf("Token() = %v, %v; want the other program's token", tok, err)
	}
	if n := f.te.count() - requests; n != 0 {
		t.Errorf("%d requests to the provider, want none", n)
	}
	if got := f.stored(t); got.AccessToken != "AT-theirs" {
		t.Errorf("stored %q, want AT-theirs", got.AccessToken.Reveal())
	}
}

// A refresh token the provider refuses, with no other in the mirror,
// still ends the login once MirrorWait has passed.
func TestRefusedWithoutOtherInMirror(t *testing.T) {
	t.Parallel()
	f, _ := filesFixture(t)
	f.e.MirrorWait = 50 * time.Millisecond
	f.loggedIn(t, "app")
	f.te.set(jsonAnswer(400, `{"error":"invalid_grant"}`))
	_, _, err := f.e.Refresh(context.Background(), "skill.test", "app")
	if oauth.ErrorCode(err) != oauth.CodeReauthRequired {
		t.Fatalf("Refresh() = %v, want reauth_required", err)
	}
	if ev := f.ev.snapshot(); len(ev.reauth) != 1 {
		t.Errorf("%d reauth events, want 1", len(ev.reauth))
	}
}

// A refresh token the provider refuses because another program presented
// it first: the daemon takes that program's token from the mirror.
func TestRefusedAfterOtherRotated(t *testing.T) {
	t.Parallel()
	f, files := filesFixture(t)
	f.loggedIn(t, "app")
	f.te.set(func(w http.ResponseWriter, r *http.Request) {
		// The other program refreshed with RT-1 a moment before.
		f.theirs(t, files, "AT-theirs", "RT-theirs", f.clk.Now().Add(time.Hour))
		jsonAnswer(400, `{"error":"invalid_grant"}`)(w, r)
	})
	_, tok, err := f.e.Refresh(context.Background(), "skill.test", "app")
	if err != nil || tok.AccessToken != "AT-theirs" {
		t.Fatalf("Refresh() = %v, %v; want the other program's token", tok, err)
	}
	if ev := f.ev.snapshot(); len(ev.reauth) != 0 {
		t.Errorf("reauth required, want the login kept")
	}
}
