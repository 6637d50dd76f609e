package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCompactAfterCrash: a process killed after sealing a version 1 store
// but before replacing it with the compacted copy leaves a sealed store
// whose freed pages still hold the plain values; the next Open compacts it.
func TestCompactAfterCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	const secret = "plain-client-secret-Hq8Lm2Zt"
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), []byte("1")); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketApps)).Put([]byte("skill_app"), []byte(`{"skill_id":"skill","app_id":"app","client_secret":"`+secret+`"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}

	// Open up to the sealing transaction, then "crash".
	db := New(path)
	bdb, _, err = db.openBolt()
	if err != nil {
		t.Fatal(err)
	}
	compact, err := db.setUp(bdb)
	if err != nil {
		t.Fatalf("setUp() = %v", err)
	}
	if !compact {
		t.Error("setUp() of a version 1 store = no compaction needed, want one")
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(secret)) {
		t.Fatal("the sealed but uncompacted file lacks the plain secret: bbolt reused its freed pages, and this test proves nothing")
	}

	db = New(path)
	if err := db.Open(); err != nil {
		t.Fatalf("Open() after the crash = %v", err)
	}
	defer db.Close()
	app, err := db.App("skill_app")
	if err != nil || app.ClientSecret.Reveal() != secret {
		t.Fatalf("App() = %v, %v; want the app with its secret", app, err)
	}
	if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(secret)) {
		t.Error("the file still holds the plain secret after the Open that followed the crash")
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyCompactPending)); v != nil {
			t.Errorf("compact_pending = %q after compaction, want none", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("temporary copy left behind: Stat = %v", err)
	}
}

// TestReplacedSince: Open tells a file replaced while it waited for its lock
// (another process compacted it), so it opens the new file instead of using
// the unlinked old one.
func TestReplacedSince(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "oauth.db")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if replaced, err := replacedSince(f, path); err != nil || replaced {
		t.Errorf("replacedSince(same file) = %v, %v; want false", replaced, err)
	}
	if err := os.WriteFile(path+".new", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if replaced, err := replacedSince(f, path); err != nil || !replaced {
		t.Errorf("replacedSince(renamed over) = %v, %v; want true", replaced, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if replaced, err := replacedSince(f, path); err != nil || !replaced {
		t.Errorf("replacedSince(removed) = %v, %v; want true", replaced, err)
	}
}
