// Package store keeps ovos-oauth's apps, tokens and pending flows in one
// bbolt file.
//
// Every write is a single bbolt read-write transaction that is fsync'd before
// the method returns, so a write that returned nil survives kill -9 and a
// power cut. Writes that run at the same time share a transaction and its
// fsyncs (group commit), so many writers cost little more than one. The file is kept at mode 0600 and a new parent directory is
// created 0700.
//
// Secrets are sealed at rest: every value of the apps, tokens and flows
// buckets is the JSON encoding of its oauth type sealed whole with
// AES-256-GCM (package seal) under the key in DB.KeyFile, with the bucket's
// name and the record's key as additional data, so a value copied to another
// record or bucket does not open. The pending-login index holds SHA-256
// hashes of the states, never the states. A stolen file alone gives up no
// client secret, token, verifier, state or device code; the file and the key
// file together give up everything. Neither is of use without the other:
// back up both, the key's copy apart from the file's.
//
// A damaged record does not stop the store: a value that does not open or
// decode is skipped by every read, as missing, and set aside in the
// quarantine bucket with its bytes (see damaged.go). A damaged file does
// not crash the process: Open checks it before bbolt maps it (check.go).
//
// Buckets:
//
//	apps         munged id         → sealed oauth.App
//	tokens       munged id         → sealed oauth.Token
//	flows        flow id           → sealed oauth.Flow
//	flow_states  SHA-256(state)    → flow id
//	app_flows    munged id, NUL, flow id → empty: each app's flows, so
//	             that one app's are found without reading the others'
//	quarantine   origin bucket, NUL, key, NUL, time → a bucket per record
//	             that did not open or decode, set aside (see damaged.go)
//	meta         "schema_version"  → "3"
//	             "created"         → RFC 3339 time
//	             "key_check"       → a sealed constant, to tell a wrong key
//	             "compact_pending" → present while freed pages may still hold
//	                                 plain values (see Open)
//
// Schema version 2 was the same without app_flows; Open builds that index
// for a version 2 file. Schema version 1 was version 2 without sealing:
// plain JSON values and plain states as flow_states keys. Open seals a
// version 1 file in place, and indexes it.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/seal"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout this package reads and writes. Bump it, and
// migrate in Open, whenever a bucket or a value's meaning changes.
const schemaVersion = 3

// unindexedVersion is the last layout without the app_flows index; Open
// builds it.
const unindexedVersion = 2

// plainVersion is the last layout that kept secrets in the clear; Open
// seals it.
const plainVersion = 1

// KeyFileName is the name of the key file New expects next to the store.
const KeyFileName = "secrets.key"

// compactTxSize bounds the memory of the compaction after sealing; a store
// is normally far smaller.
const compactTxSize = 4 << 20

const defaultTimeout = 2 * time.Second

const (
	bucketApps       = "apps"
	bucketTokens     = "tokens"
	bucketFlows      = "flows"
	bucketFlowStates = "flow_states"
	bucketAppFlows   = "app_flows"
	bucketQuarantine = "quarantine"
	bucketMeta       = "meta"

	keySchemaVersion  = "schema_version"
	keyCreated        = "created"
	keyKeyCheck       = "key_check"
	keyCompactPending = "compact_pending"
)

// keyCheck is sealed in meta under keyKeyCheck: Open tells a wrong key by it
// failing to open, even in a store without a single secret yet.
var keyCheck = []byte("ovos-oauth key check")

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
	// Now stamps the creation time of a new file, and of a damaged record
	// set aside. Defaults to time.Now.
	Now func() time.Time
	// KeyFile holds the key that seals the store's secrets (see package
	// seal for its format). New sets it to KeyFileName next to Path. Open
	// creates it (0600) when it is missing and the store holds no sealed
	// data; it never creates one for a sealed store, which only the key it
	// was sealed with opens.
	KeyFile string
	// Logger gets a warning for each damaged record set aside. New sets
	// one that discards; nil discards too.
	Logger *slog.Logger

	bolt    *bolt.DB
	box     *seal.Box // the key, set by Open
	writes  committer
	decoded atomic.Uint64 // sealed values opened, see buckets.decoded
	cache   cache         // apps and tokens decoded, see cache
}

var _ oauth.Store = (*DB)(nil)

// New returns a DB for the file at path with default settings, its key file
// KeyFileName in the same directory. It does not touch the file system; call
// Open.
func New(path string) *DB {
	return &DB{Path: path, Timeout: defaultTimeout, Now: time.Now, KeyFile: filepath.Join(filepath.Dir(path), KeyFileName),
		Logger: slog.New(slog.DiscardHandler)}
}

func (db *DB) now() time.Time {
	if db.Now == nil {
		return time.Now()
	}
	return db.Now()
}

func (db *DB) logger() *slog.Logger {
	if db.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return db.Logger
}

// Open creates the parent directory (0700) if missing, opens or creates the
// file at mode 0600 (tightening an existing file's mode), takes the file
// lock, reads the key file and checks or writes the schema version.
//
// A store without sealed data (a new file, or a version 1 file) gets the key
// in KeyFile, which Open creates if it is missing. A version 1 file, secrets
// in the clear, is sealed in place in one transaction, so a crash leaves it
// either plain or sealed whole. bbolt's freed pages would still hold the
// plain values, so Open then copies the live data into a new file that
// replaces the old one, and overwrites the old one's bytes.
//
// Open fails without writing anything if another process holds the lock for
// longer than Timeout, if the file was written by a newer schema (a
// downgrade), if it holds data but no schema version (not an ovos-oauth
// store), if it is sealed and KeyFile is missing or unreadable, if other
// users could read KeyFile (seal.ReadKeyFile), or if KeyFile holds another
// key than the one the store was sealed with. It fails with an error
// wrapping ErrDamagedFile, without writing, for a file bbolt cannot read
// safely: cut short, or with a page that is not what it should be. It
// reads every page once for that: under a millisecond for 10,000 apps.
// The errors a person can act on are typed, for a program to word them:
// a *LockedError, a *KeyError, seal's *ExposedError and *KeyFileError, a
// *DamagedFileError, a *NewerError.
func (db *DB) Open() error {
	if db.bolt != nil {
		return fmt.Errorf("open store %s: already open", db.Path)
	}
	if db.Path == "" {
		return errors.New("open store: no path")
	}
	if db.KeyFile == "" {
		return fmt.Errorf("open store %s: no key file", db.Path)
	}
	if err := os.MkdirAll(filepath.Dir(db.Path), 0o700); err != nil {
		return fmt.Errorf("open store %s: %w", db.Path, err)
	}
	if empty(db.Path) {
		// bbolt makes a new store in it: right for a file just created,
		// but one cut to nothing held apps.
		db.logger().Warn("the database file is empty (0 bytes): a new store is made in it; if it held apps, stop ovos-oauth and restore it from a backup", "path", db.Path)
	}
	// Another round follows when the file was replaced after it was opened:
	// by the compaction after sealing, this process's or, while this one
	// waited for the lock, another's.
	for range 3 {
		bdb, file, err := db.openBolt()
		if err != nil {
			return err
		}
		if err := walk(bdb); err != nil {
			_ = bdb.Close()
			return fmt.Errorf("open store %s: %w", db.Path, damagedFile(db.Path, err))
		}
		replaced, err := replacedSince(file, db.Path)
		if err == nil && !replaced {
			var compact bool
			compact, err = db.setUp(bdb)
			if err == nil && !compact {
				db.bolt = bdb
				return nil
			}
			if err == nil {
				err = db.compact(bdb, file)
			}
		}
		if cerr := bdb.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			db.box = nil
			return fmt.Errorf("open store %s: %w", db.Path, err)
		}
	}
	return fmt.Errorf("open store %s: the file keeps being replaced; is another ovos-oauth using the same data directory?", db.Path)
}

func (db *DB) timeout() time.Duration {
	if db.Timeout <= 0 {
		return defaultTimeout
	}
	return db.Timeout
}

// openBolt opens, locks and checks the file (see checkFile), and returns
// the descriptor bbolt reads it through.
func (db *DB) openBolt() (*bolt.DB, *os.File, error) {
	var file *os.File
	open := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := openChecked(name, flag, perm, db.timeout())
		file = f
		return f, err
	}
	bdb, err := boltOpen(db.Path, &bolt.Options{Timeout: db.timeout(), OpenFile: open})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, nil, &LockedError{Path: db.Path, err: err}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open store %s: %w", db.Path, err)
	}
	return bdb, file, nil
}

// replacedSince reports whether path no longer names the open file f.
func replacedSince(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !os.SameFile(held, now), nil
}

// openChecked is openFile, then it takes bbolt's lock and checks the file
// before bbolt maps it: bbolt crashes the process on a file cut short.
func openChecked(name string, flag int, perm os.FileMode, timeout time.Duration) (*os.File, error) {
	f, err := openFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	err = lockFile(f, flag&(os.O_WRONLY|os.O_RDWR) != 0, timeout)
	if err == nil {
		err = checkFile(f, name)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
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

// setUp runs once the file is locked: it reads or creates the key, then in
// one transaction initialises a new store, seals a plain one or checks the
// key of a sealed one. It reports whether freed pages may still hold plain
// values, which only compact clears.
func (db *DB) setUp(bdb *bolt.DB) (compact bool, err error) {
	var version int
	err = bdb.View(func(tx *bolt.Tx) error {
		var err error
		version, err = schemaOf(tx)
		return err
	})
	switch e := err.(type) {
	case *NewerError:
		e.Path = db.Path
	case *ForeignError:
		e.Path = db.Path
	}
	if err != nil {
		return false, err
	}
	key, err := db.key(version)
	if err != nil {
		return false, err
	}
	box, err := seal.NewBox(key)
	clear(key)
	if err != nil {
		return false, fmt.Errorf("key file %s: %w", db.KeyFile, err)
	}
	var moved []setAsideRecord
	err = bdb.Update(func(tx *bolt.Tx) error {
		var err error
		switch version {
		case 0:
			err = db.initSchema(tx, box)
		case plainVersion:
			err = sealPlain(tx, box)
			if err == nil {
				moved, err = db.indexFlows(tx, box)
			}
		case unindexedVersion:
			err = db.checkKey(tx, box)
			if err == nil {
				moved, err = db.indexFlows(tx, box)
			}
		default:
			err = db.checkKey(tx, box)
		}
		if err != nil {
			return err
		}
		compact = tx.Bucket([]byte(bucketMeta)).Get([]byte(keyCompactPending)) != nil
		return nil
	})
	if err != nil {
		return false, err
	}
	db.logSetAside(moved)
	db.box = box
	return compact, nil
}

// schemaOf returns the file's schema version, 0 for a new file, or an error
// for a file this release must not touch: one of a newer schema, one with
// an unreadable version, or one with data but no version.
func schemaOf(tx *bolt.Tx) (int, error) {
	if meta := tx.Bucket([]byte(bucketMeta)); meta != nil {
		if v := meta.Get([]byte(keySchemaVersion)); v != nil {
			return checkVersion(v)
		}
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if k, _ := b.Cursor().First(); k != nil {
			return &ForeignError{Bucket: string(name)}
		}
		return nil
	})
	return 0, err
}

func checkVersion(v []byte) (int, error) {
	n, err := strconv.Atoi(string(v))
	switch {
	case err != nil || n < 1:
		return 0, fmt.Errorf("unreadable schema version %q", v)
	case n > schemaVersion:
		return 0, &NewerError{Version: n, Known: schemaVersion}
	}
	return n, nil
}

// key returns the key in KeyFile, creating the file for a store of version
// (0 for a new one) that holds nothing sealed yet. A sealed store is never
// given a new key: it would not open the store.
func (db *DB) key(version int) ([]byte, error) {
	sealed := version > plainVersion
	key, err := seal.ReadKeyFile(db.KeyFile)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, seal.ErrKeyExposed):
		return nil, err // says how to fix it; the key itself is fine
	case sealed && errors.Is(err, fs.ErrNotExist):
		return nil, &KeyError{Path: db.Path, KeyFile: db.KeyFile, Problem: KeyMissing,
			Err: fmt.Errorf("the store is sealed but its key file %s does not exist: restore the key file from your backup, or set secrets_key_file to where it is; a new key could not open this store, so none was made and the store is unchanged", db.KeyFile)}
	case sealed:
		return nil, &KeyError{Path: db.Path, KeyFile: db.KeyFile, Problem: KeyUnusable,
			Err: fmt.Errorf("%w: the store is sealed with the key this file must hold; make it readable or restore it from your backup", err)}
	case errors.Is(err, fs.ErrNotExist):
		return seal.CreateKeyFile(db.KeyFile)
	}
	return nil, err
}

// initSchema initialises a new file: buckets, version, creation time and key
// check.
func (db *DB) initSchema(tx *bolt.Tx, box *seal.Box) error {
	if err := createBuckets(tx); err != nil {
		return err
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if err := meta.Put([]byte(keySchemaVersion), []byte(strconv.Itoa(schemaVersion))); err != nil {
		return err
	}
	if err := putKeyCheck(meta, box); err != nil {
		return err
	}
	now := time.Now
	if db.Now != nil {
		now = db.Now
	}
	return meta.Put([]byte(keyCreated), []byte(now().UTC().Format(time.RFC3339Nano)))
}

func putKeyCheck(meta *bolt.Bucket, box *seal.Box) error {
	return meta.Put([]byte(keyKeyCheck), box.Seal(keyCheck, additionalData(bucketMeta, []byte(keyKeyCheck))))
}

// checkKey fails unless box holds the key the store was sealed with.
func (db *DB) checkKey(tx *bolt.Tx, box *seal.Box) error {
	sealed := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyKeyCheck))
	if sealed == nil {
		return &DamagedFileError{Path: db.Path, Reason: FileInconsistent, Problem: "it is sealed but has no key check"}
	}
	plain, err := box.Open(sealed, additionalData(bucketMeta, []byte(keyKeyCheck)))
	if err != nil || !bytes.Equal(plain, keyCheck) {
		return &KeyError{Path: db.Path, KeyFile: db.KeyFile, Problem: KeyWrong,
			Err: fmt.Errorf("key file %s holds another key than the one this store was sealed with: restore the key file that was backed up with this database, or set secrets_key_file to it; the store is unchanged", db.KeyFile)}
	}
	return createBuckets(tx)
}

// sealPlain seals a version 1 store in place, in Open's one transaction:
// every app, token and flow is sealed and the state index rekeyed by hash.
// It marks the store for compaction: the plain values stay in freed pages.
func sealPlain(tx *bolt.Tx, box *seal.Box) error {
	if err := createBuckets(tx); err != nil {
		return err
	}
	for _, name := range []string{bucketApps, bucketTokens, bucketFlows} {
		b := tx.Bucket([]byte(name))
		recs, err := records(b)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := b.Put(r.k, box.Seal(r.v, additionalData(name, r.k))); err != nil {
				return fmt.Errorf("seal %s %s: %w", name, r.k, err)
			}
		}
	}
	recs, err := records(tx.Bucket([]byte(bucketFlowStates)))
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket([]byte(bucketFlowStates)); err != nil {
		return err
	}
	states, err := tx.CreateBucket([]byte(bucketFlowStates))
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := states.Put(stateKey(string(r.k)), r.v); err != nil {
			return fmt.Errorf("index flow %s: %w", oauth.FlowTag(string(r.v)), err)
		}
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if err := putKeyCheck(meta, box); err != nil {
		return err
	}
	return meta.Put([]byte(keyCompactPending), []byte("1"))
}

// indexFlows fills app_flows from the flows of a store of an older schema,
// in Open's one transaction, and marks the store as of the current one. A
// flow that does not open or decode is set aside; it returns those.
func (db *DB) indexFlows(tx *bolt.Tx, box *seal.Box) ([]setAsideRecord, error) {
	b := newBuckets(tx, box, nil)
	var keys [][]byte
	err := b.flows.forEach(func(k, v []byte) error {
		if f, err := decode[oauth.Flow](b.flows, k, v); err == nil {
			keys = append(keys, appFlowKey(f.MungedID, f.ID))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := b.appFlows.Put(k, nil); err != nil {
			return nil, err
		}
	}
	moved, _, err := b.setAside(db.now())
	if err != nil {
		return nil, err
	}
	return moved, tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), []byte(strconv.Itoa(schemaVersion)))
}

type record struct{ k, v []byte }

// records copies out a bucket's key/value pairs, which cannot be rewritten
// while a cursor walks them.
func records(b *bolt.Bucket) ([]record, error) {
	var recs []record
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return fmt.Errorf("unexpected nested bucket %q", k)
		}
		recs = append(recs, record{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	return recs, err
}

// compact replaces the file with a copy of its live data and overwrites the
// old file's bytes. After sealing, bbolt's freed pages still hold the plain
// values; a copy holds only what is live. The copy is fsync'd before it is
// renamed over the file and the directory after, so a crash leaves either
// the old file, still marked for compaction, or the copy.
func (db *DB) compact(src *bolt.DB, old *os.File) error {
	tmp := db.Path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("compact: %w", err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: db.timeout(), OpenFile: openFile})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	err = bolt.Compact(dst, src, compactTxSize)
	if err == nil {
		err = dst.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Delete([]byte(keyCompactPending))
		})
	}
	if cerr := dst.Close(); err == nil {
		err = cerr // every commit above was fsync'd
	}
	if err == nil {
		err = os.Rename(tmp, db.Path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(db.Path)); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// Best effort, and nothing to retry if it fails: the old file is already
	// unlinked. It keeps plain values off the disk's free blocks where the
	// file system overwrites in place (not copy-on-write ones, snapshots or
	// backups).
	_ = scrub(old)
	return nil
}

// scrub overwrites f with zeros and fsyncs it.
func scrub(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for off := int64(0); off < fi.Size(); off += int64(len(zeros)) {
		n := min(int64(len(zeros)), fi.Size()-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range []string{bucketApps, bucketTokens, bucketFlows, bucketFlowStates, bucketAppFlows, bucketQuarantine, bucketMeta} {
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
	db.bolt, db.box = nil, nil
	db.cache.reset()
	if err != nil {
		return fmt.Errorf("close store %s: %w", db.Path, err)
	}
	return nil
}

// view runs fn in a read-only transaction. The damaged records fn met, and
// skipped, are then set aside in a write of their own.
func (db *DB) view(fn func(*buckets) error) error {
	if db.bolt == nil {
		return errNotOpen
	}
	var found []damagedRecord
	err := db.bolt.View(func(btx *bolt.Tx) error {
		b := db.bucketsOf(btx)
		err := fn(b)
		found = b.damage.records
		return err
	})
	if len(found) > 0 {
		db.setAsideFound(found)
	}
	return err
}

// update runs fn in a read-write transaction, committed and fsync'd when fn
// returns nil and rolled back otherwise. Concurrent updates share one
// transaction and its fsyncs (see committer), so fn may run more than once
// and must only set its results outside the transaction. The damaged
// records fn met are set aside in the same transaction, or in a write of
// their own when fn fails.
func (db *DB) update(fn func(*buckets) error) error {
	if db.bolt == nil {
		return errNotOpen
	}
	var moved []setAsideRecord
	var touched []string
	var found []damagedRecord
	err := db.writes.do(db.bolt, func(btx *bolt.Tx) error {
		moved, touched, found = nil, nil, nil
		b := db.bucketsOf(btx)
		if err := fn(b); err != nil {
			found = b.damage.records
			return err
		}
		var err error
		moved, touched, err = b.setAside(db.now())
		return err
	})
	db.forgetTouched(touched)
	if err == nil {
		db.logSetAside(moved)
	} else if len(found) > 0 {
		db.setAsideFound(found)
	}
	return err
}

// Writes returns how many write transactions the DB has committed since it
// was created, each holding one or more writes that ran together. A method
// that changes nothing commits none. Safe for concurrent use.
func (db *DB) Writes() uint64 {
	db.writes.mu.Lock()
	defer db.writes.mu.Unlock()
	return db.writes.commits
}

// buckets are one transaction's buckets, which Open guarantees exist.
type buckets struct {
	tx                  *bolt.Tx
	damage              *damageLog // the records found damaged, shared by the sealed buckets
	apps, tokens, flows *sealedBucket
	// flowStates maps stateKey(state) to a flow id: neither is a secret.
	flowStates *bolt.Bucket
	// appFlows holds appFlowKey(munged id, flow id) of every flow.
	appFlows *bolt.Bucket
}

func (db *DB) bucketsOf(btx *bolt.Tx) *buckets { return newBuckets(btx, db.box, &db.decoded) }

// newBuckets is btx's buckets, sealed under box; decoded, if not nil,
// counts the values opened.
func newBuckets(btx *bolt.Tx, box *seal.Box, decoded *atomic.Uint64) *buckets {
	damage := &damageLog{}
	sealed := func(name string) *sealedBucket {
		return &sealedBucket{name: name, b: btx.Bucket([]byte(name)), box: box, decoded: decoded, damage: damage}
	}
	return &buckets{
		tx:         btx,
		damage:     damage,
		apps:       sealed(bucketApps),
		tokens:     sealed(bucketTokens),
		flows:      sealed(bucketFlows),
		flowStates: btx.Bucket([]byte(bucketFlowStates)),
		appFlows:   btx.Bucket([]byte(bucketAppFlows)),
	}
}

// sealedBucket is a bucket whose values are sealed, each bound to the
// bucket's name and its own key.
type sealedBucket struct {
	name    string
	b       *bolt.Bucket
	box     *seal.Box
	decoded *atomic.Uint64 // nil, or counts the values opened
	damage  *damageLog     // nil, or notes the values that do not open
}

// has reports whether there is a value at key, without opening it.
func (s *sealedBucket) has(key []byte) bool { return s.b.Get(key) != nil }

// put seals plain and stores it at key.
func (s *sealedBucket) put(key, plain []byte) error {
	return s.b.Put(key, s.box.Seal(plain, additionalData(s.name, key)))
}

func (s *sealedBucket) delete(key []byte) error { return s.b.Delete(key) }

// forEach calls fn with every key and its sealed value, for decode.
func (s *sealedBucket) forEach(fn func(k, v []byte) error) error { return s.b.ForEach(fn) }

// additionalData binds a sealed value to its bucket and key: bucket names
// hold no NUL, so no two (bucket, key) pairs give the same bytes.
func additionalData(bucket string, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(ad, bucket...)
	ad = append(ad, 0)
	return append(ad, key...)
}

// appFlowKey is a flow's key in the app_flows bucket: its app's munged id,
// NUL, its id. Munged ids hold no NUL, so one app's keys are a range that a
// cursor seeks to with appFlowPrefix.
func appFlowKey(mungedID, flowID string) []byte {
	return append(appFlowPrefix(mungedID), flowID...)
}

func appFlowPrefix(mungedID string) []byte {
	k := make([]byte, 0, len(mungedID)+1+32)
	k = append(k, mungedID...)
	return append(k, 0)
}

// stateKey is a flow's key in the flow_states bucket: the SHA-256 of its
// state, so that the file holds no state, only what cannot be turned back
// into one. States are random and long; an unsalted hash suffices.
func stateKey(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}

// get opens and decodes the value at key, or returns oauth.ErrNotFound;
// errDamaged, which wraps it, for a value that does not open or decode.
func get[T any](s *sealedBucket, key string) (*T, error) {
	data := s.b.Get([]byte(key))
	if data == nil {
		return nil, oauth.ErrNotFound
	}
	return decode[T](s, []byte(key), data)
}

// decode opens the sealed value stored at key in s and decodes it. A value
// that does not open or decode is noted in s.damage, to be set aside, and
// errDamaged returned: the caller skips it as missing.
func decode[T any](s *sealedBucket, key, sealed []byte) (*T, error) {
	if s.decoded != nil {
		s.decoded.Add(1)
	}
	data, err := s.box.Open(sealed, additionalData(s.name, key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", s.damage.note(s.name, key, sealed, reasonOf(err)), err) // "seal: …"
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		// It authenticated, so this store wrote it; never err in the
		// reason: it can quote the value.
		return nil, s.damage.note(s.name, key, sealed, DamageNotRecord)
	}
	return v, nil
}
