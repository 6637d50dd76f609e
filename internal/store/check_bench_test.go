package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkFileChecks10k measures, over a store of 10,000 apps with their
// tokens, what Open runs at every start (walk: every key and value read
// once) and what only ovos-oauth doctor runs (bbolt's tx.Check, about ten
// times the cost).
func BenchmarkFileChecks10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "oauth.db")
	db := storetest.Open(b, storetest.Path(path))
	oauthtest.Seed(b, db, 10000, time.Now())
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := store.Walk(bdb); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tx.Check", func(b *testing.B) {
		for b.Loop() {
			err := bdb.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
