package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

func openInternal(t *testing.T) *DB {
	t.Helper()
	db := New(filepath.Join(t.TempDir(), "oauth.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queued waits until n writes wait behind the running commit.
func queued(t *testing.T, db *DB, n int) {
	t.Helper()
	polltest.UntilNil(t, func() error {
		db.writes.mu.Lock()
		got := len(db.writes.queue)
		db.writes.mu.Unlock()
		if got != n {
			return fmt.Errorf("%d writes queued, want %d", got, n)
		}
		return nil
	})
}

// Writes that arrive while a commit runs share the next one: 8 writers
// behind a running commit cost one transaction, not 8. One of the group that
// fails gets its own error, and the others are committed without it.
func TestWritesGroup(t *testing.T) {
	t.Parallel()
	db := openInternal(t)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := db.update(func(b *buckets) error {
			<-release
			return b.apps.put([]byte("first_app"), []byte(`{"skill_id":"first","app_id":"app"}`))
		})
		if err != nil {
			t.Error(err)
		}
	})
	polltest.Until(t, "a commit to lead", func() bool {
		db.writes.mu.Lock()
		defer db.writes.mu.Unlock()
		return db.writes.leading
	})
	before := db.Writes()
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() {
			if i == 5 {
				// The app is missing: this write fails, alone.
				errs[i] = db.PutToken("missing_app", &oauth.Token{AccessToken: "x"})
				return
			}
			errs[i] = db.PutApp(&oauth.App{SkillID: "skill", AppID: fmt.Sprintf("app%d", i)}, false)
		})
	}
	queued(t, db, 8)
	close(release)
	wg.Wait()

	if got := db.Writes() - before; got != 2 {
		t.Errorf("%d transactions committed for the held write and 8 queued ones, want 2", got)
	}
	for i, err := range errs {
		switch {
		case i == 5 && !errors.Is(err, oauth.ErrNotFound):
			t.Errorf("PutToken of a missing app in a group = %v, want ErrNotFound", err)
		case i != 5 && err != nil:
			t.Errorf("write %d = %v", i, err)
		}
	}
	apps, err := db.Apps()
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 8 {
		t.Errorf("%d apps stored, want 8 (the first and 7 of the group)", len(apps))
	}
}
