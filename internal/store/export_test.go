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
