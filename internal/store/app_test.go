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

func TestAppRoundTrip(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	want := fullApp("skill-x.openvoiceos", "spotify")
	checkAllSet(t, want)
	if err := db.PutApp(want, false); err != nil {
		t.Fatalf("PutApp() = %v", err)
	}
	got, err := db.App(want.MungedID())
	if err != nil {
		t.Fatalf("App() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("App() mismatch (-got +want):\n%s", diff)
	}

	// Replacing keeps one record with the new values.
	want.ClientSecret = "rotated"
	want.NeedsReauth = false
	if err := db.PutApp(want, false); err != nil {
		t.Fatalf("PutApp() again = %v", err)
	}
	got, err = db.App(want.MungedID())
	if err != nil {
		t.Fatalf("App() = %v", err)
	}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("App() after replace mismatch (-got +want):\n%s", diff)
	}
}

func TestAppNotFound(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if _, err := db.App("skill_nope"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("App() = %v, want ErrNotFound", err)
	}
}

func TestApps(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	got, err := db.Apps()
	if err != nil || len(got) != 0 {
		t.Fatalf("Apps() on empty store = %v, %v; want none", got, err)
	}

	// Put out of order: Apps sorts by munged id.
	for _, a := range []*oauth.App{fullApp("b", "x"), fullApp("a", "z"), fullApp("a", "y")} {
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
	}
	got, err = db.Apps()
	if err != nil {
		t.Fatalf("Apps() = %v", err)
	}
	want := []*oauth.App{fullApp("a", "y"), fullApp("a", "z"), fullApp("b", "x")}
	if diff := cmp.Diff(got, want, equateTimes); diff != "" {
		t.Errorf("Apps() mismatch (-got +want):\n%s", diff)
	}
}

func TestPutAppDropToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dropToken bool
		wantToken bool
	}{
		{dropToken: false, wantToken: true},
		{dropToken: true, wantToken: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("dropToken=%v", tt.dropToken), func(t *testing.T) {
			db := storetest.Open(t)
			app := fullApp("skill", "app")
			if err := db.PutApp(app, false); err != nil {
				t.Fatal(err)
			}
			if err := db.PutToken("skill_app", fullToken("access")); err != nil {
				t.Fatal(err)
			}
			if err := db.PutApp(app, tt.dropToken); err != nil {
				t.Fatalf("PutApp() = %v", err)
			}
			_, err := db.Token("skill_app")
			if err != nil && !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("Token() = %v, want nil or ErrNotFound", err)
			}
			if got := err == nil; got != tt.wantToken {
				t.Errorf("Token() = %v, want token kept = %v", err, tt.wantToken)
			}
		})
	}
}

func TestPutAppMungedIDClash(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	mine := fullApp("a_b", "c")
	if err := db.PutApp(mine, false); err != nil {
		t.Fatal(err)
	}
	theirs := fullApp("a", "b_c") // same munged id, a_b_c
	theirs.ClientSecret = "theirs"
	if err := db.PutApp(theirs, true); err == nil {
		t.Fatal("PutApp() of another skill's app under the same munged id = nil, want an error")
	}
	got, err := db.App("a_b_c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, mine, equateTimes); diff != "" {
		t.Errorf("App() after refused clash mismatch (-got +want):\n%s", diff)
	}
}

func TestDeleteApp(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	for _, a := range []*oauth.App{fullApp("skill", "gone"), fullApp("skill", "kept")} {
		if err := db.PutApp(a, false); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken(a.MungedID(), fullToken("access-"+a.AppID)); err != nil {
			t.Fatal(err)
		}
	}
	gone := []*oauth.Flow{fullFlow("g1", "skill_gone", at(0)), fullFlow("g2", "skill_gone", at(1))}
	kept := fullFlow("k1", "skill_kept", at(0))
	for _, f := range append(gone, kept) {
		if err := db.PutFlow(f, 0); err != nil {
			t.Fatal(err)
		}
	}

	if err := db.DeleteApp("skill_gone"); err != nil {
		t.Fatalf("DeleteApp() = %v", err)
	}

	if _, err := db.App("skill_gone"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("App() of deleted app = %v, want ErrNotFound", err)
	}
	if _, err := db.Token("skill_gone"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("Token() of deleted app = %v, want ErrNotFound", err)
	}
	for _, f := range gone {
		if _, err := db.Flow(f.ID); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("Flow(%s) of deleted app = %v, want ErrNotFound", f.ID, err)
		}
		if _, err := db.TakeFlow(f.State.Reveal()); !errors.Is(err, oauth.ErrNotFound) {
			t.Errorf("TakeFlow() of deleted app's state = %v, want ErrNotFound", err)
		}
	}

	// The other app is untouched.
	if _, err := db.App("skill_kept"); err != nil {
		t.Errorf("App() of other app = %v", err)
	}
	if _, err := db.Token("skill_kept"); err != nil {
		t.Errorf("Token() of other app = %v", err)
	}
	if _, err := db.TakeFlow(kept.State.Reveal()); err != nil {
		t.Errorf("TakeFlow() of other app = %v", err)
	}

	if err := db.DeleteApp("skill_gone"); !errors.Is(err, oauth.ErrNotFound) {
		t.Errorf("DeleteApp() again = %v, want ErrNotFound", err)
	}
}

// TestDeleteAppRacesPutToken checks the invariant PutToken's app check
// exists for: whichever of DeleteApp and PutToken commits first, no token is
// left behind without its app.
func TestDeleteAppRacesPutToken(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	app := fullApp("skill", "app")
	for i := range 20 {
		if err := db.PutApp(app, false); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := db.DeleteApp("skill_app"); err != nil {
				t.Errorf("round %d: DeleteApp() = %v", i, err)
			}
		})
		wg.Go(func() {
			err := db.PutToken("skill_app", fullToken("access"))
			if err != nil && !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("round %d: PutToken() = %v, want nil or ErrNotFound", i, err)
			}
		})
		wg.Wait()
		if _, err := db.Token("skill_app"); !errors.Is(err, oauth.ErrNotFound) {
			t.Fatalf("round %d: Token() after DeleteApp = %v, want ErrNotFound", i, err)
		}
	}
}
