package oauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// An unchanged registration, as every skill sends on every oauth.ping,
// commits no bbolt transaction and leaves the mirror's file as it was.
func TestUnchangedRegistrationWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := storetest.Open(t, storetest.Path(filepath.Join(dir, "oauth.db")))
	files := mirror.New(filepath.Join(dir, "json_database"))
	files.LockDir = t.TempDir()
	w := mirror.NewWriter(files, slog.New(slog.DiscardHandler))
	e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	e.Mirror = w
	ctx := context.Background()

	if _, err := e.Register(ctx, benchRegistration("skill.test")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(files.AppsFile())
	if err != nil {
		t.Fatalf("the app was not mirrored: %v", err)
	}
	writes := db.Writes()
	for range 5 {
		if _, err := e.Register(ctx, benchRegistration("skill.test")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.Writes(); got != writes {
		t.Errorf("5 unchanged registrations committed %d bbolt transactions, want none", got-writes)
	}
	now, err := os.Stat(files.AppsFile())
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi, now) || !now.ModTime().Equal(fi.ModTime()) {
		t.Errorf("unchanged registrations rewrote %s", files.AppsFile())
	}

	// A changed one writes both.
	r := benchRegistration("skill.test")
	r.Scope = "read"
	if _, err := e.Register(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if db.Writes() == writes {
		t.Error("a changed registration committed nothing")
	}
	if now, _ := os.Stat(files.AppsFile()); os.SameFile(fi, now) && now.ModTime().Equal(fi.ModTime()) {
		t.Error("a changed registration did not reach the mirror")
	}
}

// 8 skills registering at once: every registration acknowledged is in the
// bbolt file when it is opened again.
func TestConcurrentRegistrationsDurable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	const skills, apps = 8, 60
	var wg sync.WaitGroup
	for s := range skills {
		wg.Go(func() {
			for a := range apps {
				r := benchRegistration(fmt.Sprintf("skill%d.test", s))
				r.AppID = fmt.Sprintf("app%02d", a)
				if _, err := e.Register(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = storetest.Open(t, storetest.Path(path))
	got, err := db.Apps()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != skills*apps {
		t.Errorf("%d apps after reopening, want %d", len(got), skills*apps)
	}
}

// Status of one skill, read through its own apps, says what the status of
// all says of that skill's apps.
func TestStatusOfSkill(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for _, s := range []string{"one", "one_x", "two"} {
		for _, a := range []string{"a", "b"} {
			r := benchRegistration(s)
			r.AppID = a
			if _, err := e.Register(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.PutToken("one_a", &oauth.Token{AccessToken: "x", Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.StartFlow(ctx, "one", "b"); err != nil {
		t.Fatal(err)
	}
	all, err := e.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var want []oauth.AppStatus
	for _, st := range all {
		if st.SkillID == "one" {
			want = append(want, st)
		}
	}
	got, err := e.Status(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Status(one) mismatch (-got +want):\n%s", diff)
	}
	if len(got) != 2 || !got[0].Authorized || got[1].Flow == "" {
		t.Errorf("Status(one) = %+v, want one_a authorized and one_b with a pending login", got)
	}
}
