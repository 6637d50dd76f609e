// Package store keeps ovos-oauth's apps, tokens and pending flows in one
// bbolt file.
//
// Every write is a single bbolt read-write transaction that is fsync'd before
// the method returns, so a write that returned nil survives kill -9 and a
// power cut. Values are the JSON encoding of the oauth types. The file holds
// client secrets and refresh tokens in the clear, so it is kept at mode 0600
// and a new parent directory is created 0700.
//
// Buckets:
//
//	apps         munged id → oauth.App
//	tokens       munged id → oauth.Token
//	flows        flow id   → oauth.Flow
//	flow_states  state     → flow id
//	meta         "schema_version" → "1", "created" → RFC 3339 time
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout this package reads and writes. Bump it, and
// migrate in initSchema, whenever a bucket or a value's meaning changes.
const schemaVersion = 1

const defaultTimeout = 2 * time.Second

const (
	bucketApps       = "apps"
	bucketTokens     = "tokens"
	bucketFlows      = "flows"
	bucketFlowStates = "flow_states"
	bucketMeta       = "meta"

	keySchemaVersion = "schema_version"
	keyCreated       = "created"
)

var errNotOpen = errors.New("store not open")

// DB is a bbolt-backed oauth.Store.
//
// Set the exported fields before Open. Once Open has returned nil, a DB is
// safe for concurrent use by multiple goroutines: reads run in parallel and
// bbolt serializes writers. Open and Close must not run concurrently with each
// other or with any other method. Only one process can have the file open:
// bbolt holds an exclusive lock on it until Close or process exit.
type DB struct {
	// Path is the bbolt file. Its parent directory is created if missing.
	Path string
	// Timeout is how long Open waits for the file lock held by another
	// process before it fails; zero or less means the default, 2s. bbolt's
	// own zero (wait forever) would hang a second instance silently.
	Timeout time.Duration
	// Now stamps the creation time of a new file. Defaults to time.Now.
	Now func() time.Time

	bolt *bolt.DB
}

var _ oauth.Store = (*DB)(nil)

// New returns a DB for the file at path with default settings. It does not
// touch the file system; call Open.
func New(path string) *DB {
	return &DB{Path: path, Timeout: defaultTimeout, Now: time.Now}
}

// Open creates the parent directory (0700) if missing, opens or creates the
// file at mode 0600 (tightening an existing file's mode), takes the file lock
// and checks or writes the schema version.
//
// Open fails if another process holds the lock for longer than Timeout, if
// the file was written by a newer schema (a downgrade), or if it holds data
// but no schema version (not an ovos-oauth store).
func (db *DB) Open() error {
	if db.bolt != nil {
		return fmt.Errorf("open store %s: already open", db.Path)
	}
	if db.Path == "" {
		return errors.New("open store: no path")
	}
	if err := os.MkdirAll(filepath.Dir(db.Path), 0o700); err != nil {
		return fmt.Errorf("open store %s: %w", db.Path, err)
	}
	timeout := db.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	bdb, err := bolt.Open(db.Path, 0o600, &bolt.Options{Timeout: timeout, OpenFile: openFile})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("open store %s: file is locked, another ovos-oauth may be running with the same data directory: %w", db.Path, err)
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", db.Path, err)
	}
	if err := bdb.Update(db.initSchema); err != nil {
		_ = bdb.Close() // the schema error is the one that matters
		return fmt.Errorf("open store %s: %w", db.Path, err)
	}
	db.bolt = bdb
	return nil
}

// openFile opens the bbolt file and sets its mode to 0600 through the open
// descriptor, so a file created under a loose umask or left at 0644 by hand
// is fixed, and a path swapped after the open cannot be chmod'ed instead.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// initSchema runs in Open's transaction: it accepts a file at schemaVersion,
// initialises an empty one, and refuses anything else without writing.
func (db *DB) initSchema(tx *bolt.Tx) error {
	if meta := tx.Bucket([]byte(bucketMeta)); meta != nil {
		if v := meta.Get([]byte(keySchemaVersion)); v != nil {
			if err := checkVersion(v); err != nil {
				return err
			}
			return createBuckets(tx)
		}
	}

	// No version: a new file, or a bbolt file that is not ours.
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if k, _ := b.Cursor().First(); k != nil {
			return fmt.Errorf("bucket %q holds data but the file has no schema version: not an ovos-oauth store", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := createBuckets(tx); err != nil {
		return err
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if err := meta.Put([]byte(keySchemaVersion), []byte(strconv.Itoa(schemaVersion))); err != nil {
		return err
	}
	now := time.Now
	if db.Now != nil {
		now = db.Now
	}
	return meta.Put([]byte(keyCreated), []byte(now().UTC().Format(time.RFC3339Nano)))
}

func checkVersion(v []byte) error {
	n, err := strconv.Atoi(string(v))
	switch {
	case err != nil || n < 1:
		return fmt.Errorf("unreadable schema version %q", v)
	case n > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this ovos-oauth understands (%d): the store was written by a newer release, refusing to downgrade", n, schemaVersion)
	}
	return nil
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range []string{bucketApps, bucketTokens, bucketFlows, bucketFlowStates, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Close releases the file and its lock. It is safe to call on a DB that was
// never opened, whose Open failed, or that is already closed.
func (db *DB) Close() error {
	if db.bolt == nil {
		return nil
	}
	err := db.bolt.Close()
	db.bolt = nil
	if err != nil {
		return fmt.Errorf("close store %s: %w", db.Path, err)
	}
	return nil
}

// view runs fn in a read-only transaction.
func (db *DB) view(fn func(*buckets) error) error {
	if db.bolt == nil {
		return errNotOpen
	}
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(bucketsOf(btx)) })
}

// update runs fn in a read-write transaction, committed and fsync'd when fn
// returns nil and rolled back otherwise.
func (db *DB) update(fn func(*buckets) error) error {
	if db.bolt == nil {
		return errNotOpen
	}
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(bucketsOf(btx)) })
}

// buckets are one transaction's buckets, which Open guarantees exist.
type buckets struct {
	apps, tokens, flows, flowStates *bolt.Bucket
}

func bucketsOf(btx *bolt.Tx) *buckets {
	return &buckets{
		apps:       btx.Bucket([]byte(bucketApps)),
		tokens:     btx.Bucket([]byte(bucketTokens)),
		flows:      btx.Bucket([]byte(bucketFlows)),
		flowStates: btx.Bucket([]byte(bucketFlowStates)),
	}
}

// get decodes the value at key, or returns oauth.ErrNotFound.
func get[T any](b *bolt.Bucket, key string) (*T, error) {
	data := b.Get([]byte(key))
	if data == nil {
		return nil, oauth.ErrNotFound
	}
	return decode[T](data)
}

func decode[T any](data []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}
