package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Decoded returns how many sealed values the DB has opened since it was
// created: what a method read.
func (db *DB) Decoded() uint64 { return db.decoded.Load() }

// IndexedFlows returns the flow ids the app_flows index holds for the app,
// in key order.
func (db *DB) IndexedFlows(mungedID string) ([]string, error) {
	var ids []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		prefix := appFlowPrefix(mungedID)
		c := tx.Bucket([]byte(bucketAppFlows)).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		return nil
	})
	return ids, err
}

// ForgetIndexValues empties every app_flows value, as an index built by a
// release before they held creation times and state keys.
func (db *DB) ForgetIndexValues() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketAppFlows))
		var keys [][]byte
		if err := b.ForEach(func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Walk is walk, for its benchmark.
var Walk = walk

// Damage flips 16 bytes of the value at key in bucket of the open store,
// as a bad card would under a running daemon: the cache is not told.
func (db *DB) Damage(bucket, key string) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		v := bytes.Clone(b.Get([]byte(key)))
		if v == nil {
			return fmt.Errorf("no %s %s to damage", bucket, key)
		}
		for i := len(v)/2 - 8; i < len(v)/2+8; i++ {
			v[i] ^= 0xA5
		}
		return b.Put([]byte(key), v)
	})
}
