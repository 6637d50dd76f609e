package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// smallStore writes a store of a few apps, tokens and logins and returns
// its closed file's bytes and key file.
func smallStore(t *testing.T) (data []byte, keyFile string, fx fixture) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oauth.db")
	db := storetest.Open(t, storetest.Path(path))
	fx = newFixture(20)
	fx.put(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, keyFileOf(path), fx
}

// TestTruncatedFile: a store cut short at any page boundary, or between
// two, is refused with an error that names the file and says what to do,
// or opens whole when only unused pages were cut; it never crashes.
func TestTruncatedFile(t *testing.T) {
	t.Parallel()
	data, keyFile, fx := smallStore(t)
	page := os.Getpagesize()
	var sizes []int
	for n := page; n < len(data); n += page {
		sizes = append(sizes, n, n-1, n+1, n+page/2)
	}
	sizes = append(sizes, 1, 100, 1024, len(data)-1)
	opened, refused := 0, 0
	for _, n := range sizes {
		path := filepath.Join(t.TempDir(), "oauth.db")
		if err := os.WriteFile(path, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		db := store.New(path)
		db.KeyFile = keyFile
		err := db.Open()
		if err != nil {
			refused++
			msg := err.Error()
			for _, w := range []string{path, "damaged", "backup", "move"} {
				if !strings.Contains(msg, w) {
					t.Errorf("size %d: Open() = %q, want it to mention %q", n, msg, w)
				}
			}
			if !errors.Is(err, store.ErrDamagedFile) {
				t.Errorf("size %d: Open() = %v, want ErrDamagedFile", n, err)
			}
			if got, _ := os.ReadFile(path); len(got) != n {
				t.Errorf("size %d: the refused file is now %d bytes, want it untouched", n, len(got))
			}
			continue
		}
		opened++
		fx.check(t, db)
		if opened == 1 {
			// The file grows again as bbolt needs.
			more := newFixture(40)
			for _, a := range more.apps[20:] {
				a.SkillID = "more"
				if err := db.PutApp(a, false); err != nil {
					t.Errorf("size %d: PutApp() after opening = %v", n, err)
				}
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if opened == 1 {
			db := storetest.Open(t, storetest.Path(path), storetest.Setup(func(db *store.DB) { db.KeyFile = keyFile }))
			if apps, err := db.AppsOfSkill("more"); err != nil || len(apps) != 20 {
				t.Errorf("size %d: after a restart %d apps written after opening, %v; want 20", n, len(apps), err)
			}
		}
	}
	if refused == 0 {
		t.Errorf("no truncation was refused")
	}
	t.Logf("%d bytes (%d pages): %d truncations refused, %d opened whole", len(data), len(data)/page, refused, opened)
}

// TestGarbagePage: a store with any one page overwritten opens with an
// error, or opens and reads without crashing: bbolt panics, or faults,
// on a page that is not what its parent says.
func TestGarbagePage(t *testing.T) {
	t.Parallel()
	data, keyFile, _ := smallStore(t)
	page := os.Getpagesize()
	refused := 0
	for n := 0; n < len(data)/page; n++ {
		for _, fill := range []byte{0x00, 0xFF} {
			bad := slices.Clone(data)
			for i := n * page; i < (n+1)*page; i++ {
				bad[i] = fill
			}
			path := filepath.Join(t.TempDir(), "oauth.db")
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			db := store.New(path)
			db.KeyFile = keyFile
			if err := db.Open(); err != nil {
				refused++
				if !strings.Contains(err.Error(), path) {
					t.Errorf("page %d = %#x: Open() = %q, want it to name the file", n, fill, err)
				}
				continue
			}
			// Whatever reads: no crash.
			_, _ = db.Apps()
			_, _ = db.Tokens()
			_, _ = db.Flows()
			if err := db.Close(); err != nil {
				t.Errorf("page %d = %#x: Close() = %v", n, fill, err)
			}
		}
	}
	if refused == 0 {
		t.Error("no overwritten page was refused")
	}
	t.Logf("%d pages overwritten twice: %d refused", len(data)/page, refused)
}

// TestOpenEmptyFileWarns: a file cut to nothing is a new store to bbolt;
// Open makes one in it, and says so, since it may have held apps.
func TestOpenEmptyFileWarns(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "oauth.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, logs := openLogged(t, path)
	if has, err := db.HasApps(); err != nil || has {
		t.Errorf("HasApps() = %v, %v; want a new, empty store", has, err)
	}
	if !strings.Contains(logs.String(), "empty") || !strings.Contains(logs.String(), "backup") {
		t.Errorf("no warning of the empty file:\n%s", logs)
	}
}
