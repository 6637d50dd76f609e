package store

import "fmt"

// KeyError is the error of Open for a key file that does not open a
// sealed store. Its Error is English, for logs; a program words Problem,
// Path and KeyFile for a person. The store is unchanged.
type KeyError struct {
	Path    string // the database file
	KeyFile string
	Problem KeyProblem
	// Err says it in English; for KeyUnusable it wraps the error of
	// seal.ReadKeyFile, which says why.
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// KeyProblem says why a key file does not open a sealed store.
type KeyProblem int

const (
	// KeyWrong: the file holds another key than the store was sealed
	// with.
	KeyWrong KeyProblem = iota
	// KeyMissing: there is no key file; none was made, as a new key could
	// not open the store.
	KeyMissing
	// KeyUnusable: the key file cannot be read, or holds no key.
	KeyUnusable
)

// LockedError is the error of Open while another process holds the
// file's lock beyond Timeout: another ovos-oauth with the same data
// directory, most likely. It wraps ErrLocked and bbolt's timeout.
type LockedError struct {
	Path string
	err  error
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("open store %s: file is locked, another ovos-oauth may be running with the same data directory: %v", e.Path, e.err)
}

func (e *LockedError) Unwrap() []error { return []error{ErrLocked, e.err} }

// NewerError is the error of Open for a store a newer release of
// ovos-oauth wrote, in a schema this one does not know: it refuses to
// downgrade it. The store is unchanged.
type NewerError struct {
	Path    string
	Version int // the store's schema
	Known   int // the newest this release knows
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("schema version %d is newer than this ovos-oauth understands (%d): the store was written by a newer release, refusing to downgrade", e.Version, e.Known)
}

// ForeignError is the error of Open for a bbolt file that holds data but
// is not an ovos-oauth store (no schema version): another program's file
// at the data directory's path. It is left as it was.
type ForeignError struct {
	Path   string
	Bucket string // a bucket that holds data
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("bucket %q holds data but the file has no schema version: not an ovos-oauth store", e.Bucket)
}
