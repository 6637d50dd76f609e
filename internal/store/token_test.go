package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	want := fullToken("access")
	checkAllSet(t, want)
	if err := db.PutToken("skill_app", want); err != nil {
		t.Fatalf("PutToken() = %v", err)
	}
	got, err := db.Token("skill_app")
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("Token() mismatch (-got +want):\n%s", diff)
	}

	// A refresh replaces the token.
	want = fullToken("access-2")
	if err := db.PutToken("skill_app", want); err != nil {
		t.Fatalf("PutToken() again = %v", err)
	}
	got, err = db.Token("skill_app")
	if err != nil {
		t.Fatalf("Token() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("Token() after replace mismatch (-got +want):\n%s", diff)
	}
}

func TestTokenMinimal(t *testing.T) {
	t.Parallel()
	// Zero Expiry is omitted (omitzero) and must come back zero.
	db := storetest.Open(t)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	want := &oauth.Token{AccessToken: "access"}
	if err := db.PutToken("skill_app", want); err != nil {
		t.Fatal(err)
	}
	got, err := db.Token("skill_app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("Token() mismatch (-got +want):\n%s", diff)
	}
	if !got.Expiry.IsZero() {
		t.Errorf("Token().Expiry = %v, want zero", got.Expiry)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	got, err := db.Tokens()
	if err != nil || len(got) != 0 {
		t.Fatalf("Tokens() on empty store = %v, %v; want none", got, err)
	}
	want := map[string]*oauth.Token{}
	for _, app := range []string{"one", "two", "three"} {
		a := fullApp("skill", app)
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
		if app == "three" {
			continue // an app without a token is not listed
		}
		want[a.MungedID()] = fullToken("access-" + app)
		if err := db.PutToken(a.MungedID(), want[a.MungedID()]); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.Tokens()
	if err != nil {
		t.Fatalf("Tokens() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("Tokens() mismatch (-got +want):\n%s", diff)
	}
}

func TestPutTokenUnknownApp(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	tok := fullToken("access-for-nobody")
	err := db.PutToken("skill_nope", tok)
	if !errors.Is(err, oauth.ErrNotFound) {
		t.Fatalf("PutToken() for unknown app = %v, want ErrNotFound", err)
	}
	for _, secret := range []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal()} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("PutToken() error %q contains a secret", err)
		}
	}
	if _, err := db.Token("skill_nope"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token() = %v, want ErrNotFound", err)
	}
}

func TestDeleteToken(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken("skill_app", fullToken("access")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second delete finds nothing, which is fine
		if err := db.DeleteToken("skill_app"); err != nil {
			t.Errorf("DeleteToken() #%d = %v", i+1, err)
		}
	}
	if _, err := db.Token("skill_app"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token() after DeleteToken = %v, want ErrNotFound", err)
	}
	if _, err := db.App("skill_app"); err != nil {
		t.Errorf("App() after DeleteToken = %v, want the app kept", err)
	}
}
