package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// TestRepeatReadsDecodeNothing: the second read of an app, a token or an
// app's missing token opens no sealed value: they are kept decoded.
func TestRepeatReadsDecodeNothing(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	for _, id := range []string{"with", "none"} {
		if err := db.PutApp(fullApp("skill", id), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutToken("skill_with", fullToken("AT")); err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		if _, err := db.App("skill_with"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Token("skill_with"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Token("skill_none"); !errors.Is(err, oauth.ErrNotFound) {
			t.Fatalf("Token(no token) = %v, want ErrNotFound", err)
		}
	}
	read()
	before := db.Decoded()
	read()
	if n := db.Decoded() - before; n != 0 {
		t.Errorf("repeat reads opened %d sealed values, want 0", n)
	}
}

// TestReadsFollowEveryWrite: whatever was read (and so kept) before a
// write, a read after it returns what the write left in the file, for
// every method that writes an app or a token.
func TestReadsFollowEveryWrite(t *testing.T) {
	t.Parallel()
	changed := fullApp("skill", "app")
	changed.ClientID = "another-client"
	changed.NeedsReauth, changed.ReauthReason = true, "invalid_grant"
	for _, tt := range []struct {
		name      string
		write     func(db dbWriter) error
		wantApp   *oauth.App // nil: no app
		wantToken *oauth.Token
	}{
		{"PutApp changed (register, credentials, reauth)", func(db dbWriter) error { return db.PutApp(changed, false) }, changed, fullToken("AT")},
		{"PutApp dropping the token (another client)", func(db dbWriter) error { return db.PutApp(changed, true) }, changed, nil},
		{"PutToken (login, refresh)", func(db dbWriter) error { return db.PutToken("skill_app", fullToken("AT-2")) }, fullApp("skill", "app"), fullToken("AT-2")},
		{"DeleteToken (revoke)", func(db dbWriter) error { return db.DeleteToken("skill_app") }, fullApp("skill", "app"), nil},
		{"DeleteApp (unregister)", func(db dbWriter) error { return db.DeleteApp("skill_app") }, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t)
			if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
				t.Fatal(err)
			}
			if err := db.PutToken("skill_app", fullToken("AT")); err != nil {
				t.Fatal(err)
			}
			// Read, so that both are kept; and change the copies handed
			// out, which must not change what is kept.
			app, err := db.App("skill_app")
			if err != nil {
				t.Fatal(err)
			}
			app.ClientID, app.AuthParams["x"] = "changed-by-caller", "y"
			tok, err := db.Token("skill_app")
			if err != nil {
				t.Fatal(err)
			}
			tok.AccessToken, tok.Raw["extra"] = "changed-by-caller", "y"

			if err := tt.write(db); err != nil {
				t.Fatalf("write: %v", err)
			}
			gotApp, err := db.App("skill_app")
			switch {
			case tt.wantApp == nil && !errors.Is(err, oauth.ErrNotFound):
				t.Errorf("App() after the write = %v, %v; want ErrNotFound", gotApp, err)
			case tt.wantApp != nil && err != nil:
				t.Errorf("App() after the write = %v", err)
			case tt.wantApp != nil:
				if diff := cmp.Diff(gotApp, tt.wantApp, equateTimes); diff != "" {
					t.Errorf("App() after the write (-got +want):\n%s", diff)
				}
			}
			gotTok, err := db.Token("skill_app")
			switch {
			case tt.wantToken == nil && !errors.Is(err, oauth.ErrNotFound):
				t.Errorf("Token() after the write = %v, %v; want ErrNotFound", gotTok, err)
			case tt.wantToken != nil && err != nil:
				t.Errorf("Token() after the write = %v", err)
			case tt.wantToken != nil:
				if diff := cmp.Diff(gotTok, tt.wantToken, equateTimes); diff != "" {
					t.Errorf("Token() after the write (-got +want):\n%s", diff)
				}
			}
		})
	}
}

// dbWriter is what TestReadsFollowEveryWrite's writes use of a DB.
type dbWriter interface {
	PutApp(*oauth.App, bool) error
	PutToken(string, *oauth.Token) error
	DeleteToken(string) error
	DeleteApp(string) error
}

// TestNoStaleReadAfterConcurrentWrite: readers keep reading a token while
// it is replaced again and again; once each write has returned, the
// writer reads what it wrote, never the token before (a read that began
// before a commit must not put the old token back after it).
func TestNoStaleReadAfterConcurrentWrite(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken("skill_app", fullToken("AT-0")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.Token("skill_app"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for i := 1; i <= 100; i++ {
		want := fmt.Sprintf("AT-%d", i)
		if err := db.PutToken("skill_app", fullToken(want)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			got, err := db.Token("skill_app")
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessToken.Reveal() != want {
				t.Fatalf("Token() after writing %s = %s", want, got.AccessToken.Reveal())
			}
		}
	}
}
