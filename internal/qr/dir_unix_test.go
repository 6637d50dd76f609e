//go:build unix

package qr

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The systemd units run the daemon with UMask=0077; the GUI, another user,
// must still read the folder and its images. Umask is process-wide, so this
// test must not run in parallel with others.
func TestWriteUnderStrictUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	d := NewDir(filepath.Join(t.TempDir(), "run", "qr"))
	path, err := d.Write(loginURL)
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	modes := map[string]os.FileMode{
		filepath.Dir(d.Path): 0o755, // a parent Write created
		d.Path:               0o755,
		path:                 0o644,
	}
	for p, want := range modes {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", p, got, want)
		}
	}
}
