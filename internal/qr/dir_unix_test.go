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

// TestWriteRefusesAFolderOthersControl: under a folder another user owns,
// or one everyone may write to without the sticky bit, another user could
// swap the image the GUI shows for a login's; /tmp itself (sticky) is fine.
func TestWriteRefusesAFolderOthersControl(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root, to give a folder to another user (CI runs as root)")
	}
	base := t.TempDir()
	foreign := filepath.Join(base, "foreign")
	open := filepath.Join(base, "open")
	sticky := filepath.Join(base, "sticky")
	for _, d := range []string{foreign, open, sticky} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(foreign, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for dir, refused := range map[string]bool{foreign: true, open: true, sticky: false} {
		_, err := NewDir(filepath.Join(dir, "ovos-oauth-0", "qr")).Write(loginURL)
		if refused && err == nil {
			t.Errorf("Write under %s succeeded, want a refusal", filepath.Base(dir))
		}
		if !refused && err != nil {
			t.Errorf("Write under %s: %v", filepath.Base(dir), err)
		}
	}
}
