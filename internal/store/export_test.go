package store

import (
	"bytes"

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
