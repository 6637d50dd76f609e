package store

import (
	"path/filepath"
	"testing"
)

// TestOpenSyncs pins the durability promise: bbolt fsyncs every commit only
// while NoSync is false.
func TestOpenSyncs(t *testing.T) {
	t.Parallel()
	db := New(filepath.Join(t.TempDir(), "oauth.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.bolt.NoSync {
		t.Error("bolt.NoSync = true, want false: acknowledged writes must be on disk")
	}
}
