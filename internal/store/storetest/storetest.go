// Package storetest opens stores for tests: a store.DB in a new temporary
// directory, or at a path the test names, open and closed when the test
// ends.
package storetest

import (
	"path/filepath"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// An Option changes how Open opens the store.
type Option func(*options)

type options struct {
	path  string
	setup []func(*store.DB)
}

// Path opens the store at path, its key file beside it as store.New puts
// it, instead of in a new temporary directory: a store a daemon left, or
// one the test opens again.
func Path(path string) Option {
	return func(o *options) { o.path = path }
}

// Setup changes the store's settings (Now, Logger, KeyFile, Timeout…)
// before Open.
func Setup(fn func(*store.DB)) Option {
	return func(o *options) { o.setup = append(o.setup, fn) }
}

// Open opens a store, by default ovos-oauth.db in a new temporary
// directory, failing the test if it does not open, and closes it when the
// test and its subtests have ended, failing the test if that fails. A test
// may close it sooner, to open it again or hand the file to a daemon;
// Close is safe to call twice.
func Open(tb testing.TB, opts ...Option) *store.DB {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.path == "" {
		o.path = filepath.Join(tb.TempDir(), "ovos-oauth.db")
	}
	db := store.New(o.path)
	for _, fn := range o.setup {
		fn(db)
	}
	if err := db.Open(); err != nil {
		tb.Fatalf("open the store: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close the store: %v", err)
		}
	})
	return db
}
