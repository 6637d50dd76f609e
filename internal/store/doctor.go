package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is wrapped by the error of Inspect and RemoveDamaged, and of
// Open (a *LockedError), when another process, normally the daemon, holds
// the file's lock.
var ErrLocked = errors.New("the database file is in use by another process")

// maxProblems bounds what Inspect keeps of bbolt's check: a badly damaged
// file yields one complaint per page.
const maxProblems = 20

// Report is what Inspect found in a store file: never a secret.
type Report struct {
	// Size is the file's size in bytes.
	Size int64
	// Records counts the records of each kind (oauth.RecordApp, …),
	// without opening them.
	Records map[string]int
	// Problems is what bbolt's consistency check (tx.Check) found, in its
	// words, at most maxProblems of them; none for a sound file.
	Problems []string
	// Damaged lists the records set aside, oldest first.
	Damaged []oauth.DamagedRecord
}

// Inspect checks the store file at path without changing it and without
// its key, as a repair tool: the layout Open checks, every page read once,
// then bbolt's consistency check, which costs too much to run at every
// start. It lists the records set aside. It takes the file's shared lock
// and fails with an error wrapping ErrLocked when the daemon holds it for
// longer than timeout, and with one wrapping ErrDamagedFile for a file
// that cannot be read safely.
func Inspect(path string, timeout time.Duration) (*Report, error) {
	if empty(path) {
		return &Report{Records: map[string]int{}}, nil // Open makes a new store in it
	}
	bdb, err := openRepair(path, true, timeout)
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	rep := &Report{Records: map[string]int{}}
	if fi, err := os.Stat(path); err == nil {
		rep.Size = fi.Size()
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			// Drained to the end: the check's goroutine sends them all.
			if len(rep.Problems) < maxProblems {
				rep.Problems = append(rep.Problems, err.Error())
			}
		}
		for _, name := range []string{bucketApps, bucketTokens, bucketFlows} {
			if b := tx.Bucket([]byte(name)); b != nil {
				rep.Records[recordOf(name)] = b.Stats().KeyN
			}
		}
		var err error
		rep.Damaged, err = listQuarantine(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	return rep, nil
}

// RemoveDamaged deletes the records set aside from the store file at path,
// in one transaction, and returns how many it deleted. Like Inspect it
// needs no key; it takes the file's exclusive lock (ErrLocked while the
// daemon runs) and refuses a file that cannot be read safely.
func RemoveDamaged(path string, timeout time.Duration) (int, error) {
	if empty(path) {
		return 0, nil
	}
	bdb, err := openRepair(path, false, timeout)
	if err != nil {
		return 0, err
	}
	n := 0
	err = bdb.Update(func(tx *bolt.Tx) error {
		q := tx.Bucket([]byte(bucketQuarantine))
		if q == nil {
			return nil
		}
		var names [][]byte
		if err := q.ForEachBucket(func(name []byte) error {
			names = append(names, append([]byte(nil), name...))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			if err := q.DeleteBucket(name); err != nil {
				return err
			}
		}
		n = len(names)
		return nil
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("remove damaged records from %s: %w", path, err)
	}
	return n, nil
}

// openRepair opens an existing store file for Inspect or RemoveDamaged,
// never creating one: locked, its layout checked, every page read once.
func openRepair(path string, readOnly bool, timeout time.Duration) (*bolt.DB, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	open := func(name string, _ int, _ os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, 0) // without O_CREATE
		if err != nil {
			return nil, err
		}
		err = lockFile(f, !readOnly, timeout)
		if err == nil {
			err = checkFile(f, name)
		}
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		return f, nil
	}
	bdb, err := boltOpen(path, &bolt.Options{ReadOnly: readOnly, Timeout: timeout, OpenFile: open})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no database at %s: is the data directory right?: %w", path, fs.ErrNotExist)
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := walk(bdb); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, damagedFile(path, err))
	}
	return bdb, nil
}

// empty reports whether path is a file of 0 bytes, which bbolt cannot open
// read-only: it would write a new store's first pages into it.
func empty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}
