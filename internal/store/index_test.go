package store_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// A version 2 store, from before the app_flows index, opens: Open builds
// the index in place, so eviction and DeleteApp find each app's flows, and
// the file is then of version 3.
func TestMigrateUnindexedV2(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	fx := newFixture(12)
	db := storetest.Open(t, storetest.Path(path))
	fx.put(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// What release 2 wrote: the same file without the index.
	writeRaw(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("app_flows")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("2"))
	})

	db = storetest.Open(t, storetest.Path(path))
	fx.check(t, db) // the index included
	app := fx.apps[0].MungedID()
	if err := db.DeleteApp(app); err != nil {
		t.Fatal(err)
	}
	for _, f := range fx.flows {
		if f.MungedID != app {
			continue
		}
		if _, err := db.Flow(f.ID); err == nil {
			t.Errorf("Flow(%s) after DeleteApp of its app = found, want gone", f.ID)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readMeta(t, path, "schema_version"); got != "3" {
		t.Errorf("schema_version after Open = %q, want %q", got, "3")
	}
}

// PutFlow reads the flows of its own app only: 7,000 pending logins of
// other apps cost it nothing. Counted in sealed values opened, not time.
func TestPutFlowReadsOnlyItsApp(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		t.Fatal(err)
	}
	put := func(db *store.DB, id, app string, i, keep int) {
		t.Helper()
		if err := db.PutFlow(fullFlow(id, app, at(i)), keep); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		put(db, fmt.Sprintf("mine-%d", i), "skill_app", i, 0)
	}
	// 7,000 pending logins of 100 other apps, stored in one go: a writer
	// for each app, so that the writes share few commits (and fsyncs).
	var wg sync.WaitGroup
	for a := range 100 {
		wg.Go(func() {
			if err := db.PutApp(fullApp("other", fmt.Sprintf("app%03d", a)), false); err != nil {
				t.Error(err)
				return
			}
			for i := a; i < 7000; i += 100 {
				if err := db.PutFlow(fullFlow(fmt.Sprintf("other-%04d", i), fmt.Sprintf("other_app%03d", i%100), at(i%60)), 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	before := db.Decoded()
	put(db, "mine-3", "skill_app", 10, 3) // keeps mine-3 and the 2 newest
	if got := db.Decoded() - before; got > 4 {
		t.Errorf("PutFlow opened %d sealed values beside 7,000 other flows, want at most 4: its app's flows", got)
	}
	ids, err := db.IndexedFlows("skill_app")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mine-1", "mine-2", "mine-3"}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("flows of the app after eviction = %v, want %v", ids, want)
	}
	if _, err := db.Flow("mine-0"); err == nil {
		t.Error("the oldest flow was not evicted")
	}
	if _, err := db.Flow("other-0000"); err != nil {
		t.Errorf("another app's flow: %v", err)
	}
}

// 8 writers registering at once: every write acknowledged is in the file
// when it is opened again.
func TestConcurrentWritesDurable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	const writers, each = 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := db.PutApp(fullApp(fmt.Sprintf("skill%d", w), fmt.Sprintf("app%03d", i)), false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	writes := db.Writes()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes in %d transactions", writers*each, writes)

	db = storetest.Open(t, storetest.Path(path))
	for w := range writers {
		for i := range each {
			if _, err := db.App(fmt.Sprintf("skill%d_app%03d", w, i)); err != nil {
				t.Errorf("App() after reopening = %v", err)
			}
		}
	}
}

// AppsOfSkill and FlowsOf read one skill's apps and one app's flows, not
// the others', and tell apart skills whose munged ids share a prefix.
func TestPerSkillReads(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	for _, a := range [][2]string{{"a", "x"}, {"a", "y"}, {"a_b", "z"}, {"ab", "x"}} {
		if err := db.PutApp(fullApp(a[0], a[1]), false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if err := db.PutApp(fullApp(fmt.Sprintf("other%03d", i), "app"), false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := db.PutFlow(fullFlow(fmt.Sprintf("f%d", i), "a_x", at(i)), 0); err != nil {
			t.Fatal(err)
		}
		if err := db.PutFlow(fullFlow(fmt.Sprintf("g%d", i), "a_b_z", at(i)), 0); err != nil {
			t.Fatal(err)
		}
	}

	before := db.Decoded()
	apps, err := db.AppsOfSkill("a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.MungedID())
	}
	if fmt.Sprint(got) != "[a_x a_y]" {
		t.Errorf("AppsOfSkill(a) = %v, want [a_x a_y]", got)
	}
	if n := db.Decoded() - before; n > 3 { // a_b_z shares the prefix
		t.Errorf("AppsOfSkill opened %d apps beside 200 others, want at most 3", n)
	}

	before = db.Decoded()
	flows, err := db.FlowsOf("a_x")
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, f := range flows {
		got = append(got, f.ID)
	}
	if fmt.Sprint(got) != "[f0 f1 f2]" {
		t.Errorf("FlowsOf(a_x) = %v, want [f0 f1 f2]", got)
	}
	if n := db.Decoded() - before; n != 3 {
		t.Errorf("FlowsOf opened %d flows, want 3: its own", n)
	}
}
