package store_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// TestInspectAndRemoveDamaged: the repair tool's view of a store with
// records set aside: it lists them without the key, and removes them on
// request, leaving the rest whole.
func TestInspectAndRemoveDamaged(t *testing.T) {
	t.Parallel()
	path, _ := damagedStore(t)
	db := storetest.Open(t, storetest.Path(path))
	if _, err := db.Apps(); err != nil { // sets aside s_b's app and token
		t.Fatal(err)
	}
	if _, err := db.Tokens(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flows(); err != nil {
		t.Fatal(err)
	}

	// While the daemon holds the file: refused at once, not waited on.
	start := time.Now()
	if _, err := store.Inspect(path, 100*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Inspect() of an open store = %v, want ErrLocked", err)
	}
	if _, err := store.RemoveDamaged(path, 100*time.Millisecond); !errors.Is(err, store.ErrLocked) {
		t.Errorf("RemoveDamaged() of an open store = %v, want ErrLocked", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusals took %v", took)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	rep, err := store.Inspect(path, time.Second)
	if err != nil {
		t.Fatalf("Inspect() = %v", err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("Inspect() problems = %q, want none", rep.Problems)
	}
	if rep.Records[oauth.RecordApp] != 3 || rep.Records[oauth.RecordToken] != 2 || rep.Records[oauth.RecordLogin] != 2 {
		t.Errorf("Inspect() records = %v, want 3 apps, 2 tokens, 2 logins", rep.Records)
	}
	if len(rep.Damaged) != 4 {
		t.Errorf("Inspect() damaged = %+v, want 4", rep.Damaged)
	}
	n, err := store.RemoveDamaged(path, time.Second)
	if err != nil || n != 4 {
		t.Fatalf("RemoveDamaged() = %d, %v; want 4", n, err)
	}
	if rep, err := store.Inspect(path, time.Second); err != nil || len(rep.Damaged) != 0 {
		t.Errorf("Inspect() after RemoveDamaged = %+v, %v; want nothing set aside", rep, err)
	}
	db = storetest.Open(t, storetest.Path(path))
	if tok, err := db.Token("s_d"); err != nil || tok.AccessToken != "access-d" {
		t.Errorf("Token(s_d) after RemoveDamaged = %v, %v", tok, err)
	}
}

// TestInspectDamagedFiles: the repair tool says what is wrong with a file
// bbolt cannot use, and never creates one.
func TestInspectDamagedFiles(t *testing.T) {
	t.Parallel()
	data, _, _ := smallStore(t)
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.db")
	if _, err := store.Inspect(missing, time.Second); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("Inspect() of a missing file = %v, want no database", err)
	}
	if _, err := store.RemoveDamaged(missing, time.Second); err == nil {
		t.Error("RemoveDamaged() of a missing file = nil")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the repair tool made %s", missing)
	}

	cut := filepath.Join(dir, "cut.db")
	if err := os.WriteFile(cut, data[:3*os.Getpagesize()], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Inspect(cut, time.Second); !errors.Is(err, store.ErrDamagedFile) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("Inspect() of a file cut short = %v, want ErrDamagedFile saying so", err)
	}

	// A freelist that forgets its pages: bbolt reads it fine, its check
	// finds the pages neither in use nor free.
	leaky := filepath.Join(dir, "leaky.db")
	if err := os.WriteFile(leaky, forgetFreePages(t, data), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Inspect(leaky, time.Second)
	if err != nil {
		t.Fatalf("Inspect() of a leaky file = %v", err)
	}
	if len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "unreachable unfreed") {
		t.Errorf("Inspect() problems = %q, want unreachable pages", rep.Problems)
	}
}

// forgetFreePages empties the freelist of a store file's bytes (the page
// the meta of the newest transaction names), and fails if it was empty.
func forgetFreePages(t *testing.T, data []byte) []byte {
	t.Helper()
	data = append([]byte(nil), data...)
	page := os.Getpagesize()
	e := binary.NativeEndian
	meta := 16 // after the page header
	txid := func(p int) uint64 { return e.Uint64(data[p*page+meta+48:]) }
	newest := 0
	if txid(1) > txid(0) {
		newest = 1
	}
	freelist := int(e.Uint64(data[newest*page+meta+32:]))
	count := data[freelist*page+10:]
	if e.Uint16(count) == 0 {
		t.Fatal("the store has no free pages to forget")
	}
	e.PutUint16(count, 0)
	return data
}

// TestDamagedFileError: a file bbolt cannot map fails Open and Inspect
// with a *DamagedFileError that names the file and says what is wrong as
// a code, for the CLI to word; its English text names the file and what
// to do.
func TestDamagedFileError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		data []byte
		want store.FileDamage
	}{
		{"too short", make([]byte, 100), store.FileCutShort},
		{"no meta page", []byte(strings.Repeat("Z", 3*4096)), store.FileOverwritten},
	} {
		path := filepath.Join(t.TempDir(), "ovos-oauth.db")
		if err := os.WriteFile(path, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		db := store.New(path)
		db.KeyFile = filepath.Join(t.TempDir(), "secrets.key")
		openErr := db.Open()
		_, inspectErr := store.Inspect(path, time.Second)
		for what, err := range map[string]error{"Open": openErr, "Inspect": inspectErr} {
			e, ok := errors.AsType[*store.DamagedFileError](err)
			if !ok || e.Path != path || e.Reason != tt.want || !errors.Is(err, store.ErrDamagedFile) {
				t.Errorf("%s: %s() = %v, want a *DamagedFileError of %s, %s", tt.name, what, err, path, tt.want)
				continue
			}
			if !strings.Contains(err.Error(), "mv "+path+" "+path+".damaged") || !strings.Contains(err.Error(), e.Problem) {
				t.Errorf("%s: %s() = %q, want it to say what is wrong and what to do", tt.name, what, err)
			}
		}
	}
}
