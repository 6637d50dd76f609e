package atomicfile_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
)

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range entries {
		ns = append(ns, e.Name())
	}
	return ns
}

func TestWrite(t *testing.T) {
	t.Parallel()
	// From private to world-readable and back: the mode is perm, whatever
	// the replaced file had and whatever the umask lets a new file have.
	for _, tt := range []struct {
		name      string
		old, perm fs.FileMode
	}{
		{"world-readable over private", 0o600, 0o644},
		{"private over world-readable", 0o644, 0o600},
		{"new file", 0, 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tt.old != 0 {
				if err := os.WriteFile(path, []byte("old"), tt.old); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.Write(path, []byte("new"), tt.perm); err != nil {
				t.Fatalf("Write() = %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != "new" {
				t.Errorf("file = %q, %v; want %q", got, err, "new")
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", info.Mode().Perm(), tt.perm)
			}
			if ns := names(t, dir); !slices.Equal(ns, []string{"file"}) {
				t.Errorf("files = %v, want only the written one", ns)
			}
		})
	}
}

// WriteFunc returns the file that ends up at path, as os.Stat sees it.
func TestWriteFuncReturnsWritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "file")
	written, err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, "twelve bytes")
		return err
	})
	if err != nil {
		t.Fatalf("WriteFunc() = %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(written, info) || written.Size() != 12 || !written.ModTime().Equal(info.ModTime()) {
		t.Errorf("WriteFunc() returned %v %d %v; os.Stat shows %v %d %v",
			written.Name(), written.Size(), written.ModTime(), info.Name(), info.Size(), info.ModTime())
	}
}

// A write that fails leaves the old file as it was and nothing else, and
// while the content is being written the final name shows the old file.
func TestWriteFuncFailureKeepsOld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("disk full, say")
	_, err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "half of the n"); err != nil {
			return err
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
			t.Errorf("file during the write = %q, %v; want the old one", got, err)
		}
		return broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("WriteFunc() = %v, want %v", err, broken)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
		t.Errorf("file after a failed write = %q, %v; want the old one", got, err)
	}
	if ns := names(t, dir); !slices.Equal(ns, []string{"file"}) {
		t.Errorf("files left = %v, want only the old one", ns)
	}
}

// A write that fails after its temporary file exists removes it.
func TestWriteFuncCleansUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	// rename(2) cannot replace a non-empty directory, even for root.
	if err := os.MkdirAll(filepath.Join(path, "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }); err == nil {
		t.Fatal("WriteFunc() over a non-empty directory = nil, want an error")
	}
	if ns := names(t, dir); !slices.Equal(ns, []string{"file"}) {
		t.Errorf("files left = %v, want only file", ns)
	}
}

func TestWriteMissingDir(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "file")
	if err := atomicfile.Write(path, []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write() into a missing directory = %v, want fs.ErrNotExist", err)
	}
}

func TestSyncDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := atomicfile.SyncDir(dir); err != nil {
		t.Errorf("SyncDir(%s) = %v", dir, err)
	}
	if err := atomicfile.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir(missing) = %v, want fs.ErrNotExist", err)
	}
}
