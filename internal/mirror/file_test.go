package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A write that fails after its temporary file exists removes it.
func TestWriteFileAtomicCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, tokensName)
	// rename(2) cannot replace a non-empty directory, even for root.
	if err := os.MkdirAll(filepath.Join(path, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("{}")); err == nil {
		t.Fatal("writeFileAtomic() over a non-empty directory = nil, want an error")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{tokensName}) {
		t.Errorf("files left = %v, want only %s", names, tokensName)
	}
}

// FuzzParseEntries checks that whatever another program left in the file is
// either refused whole or comes back, entry by entry, as it was.
func FuzzParseEntries(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `{}`, `null`, `[]`, `"x"`, `{"a":1`, `{} {}`,
		"// c\n{}", "\ufeff{}",
		`{"ocp_spotify": {"scope": "a <&> ♫", "big": 12345678901234567890, "r": 1.50, "e": "caf\u00e9"}}`,
		`{"a": {"b": 1, "a": [true, null, {}, []]}, "a": 2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseEntries(data)
		if err != nil {
			if !errors.Is(err, errNotObject) {
				t.Fatalf("parseEntries(%q) error = %v, want errNotObject", data, err)
			}
			return
		}
		out, err := encodeEntries(entries)
		if err != nil {
			t.Fatalf("encodeEntries() error = %v for %q", err, data)
		}
		again, err := parseEntries(out)
		if err != nil {
			t.Fatalf("parseEntries(encodeEntries()) error = %v:\n%s", err, out)
		}
		if len(again) != len(entries) {
			t.Fatalf("round trip has %d entries, want %d:\n%s", len(again), len(entries), out)
		}
		for k, v := range entries {
			var want, got bytes.Buffer
			if err := json.Compact(&want, v); err != nil {
				t.Fatal(err)
			}
			if err := json.Compact(&got, again[k]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("entry %q = %s after a round trip, want %s", k, got.Bytes(), want.Bytes())
			}
		}
	})
}
