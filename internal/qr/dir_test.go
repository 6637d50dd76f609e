package qr

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

var imageName = regexp.MustCompile(`^qr-[0-9a-f]{32}\.png$`)

func TestWrite(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "run", "qr"))

	path, err := d.Write(loginURL)
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if !filepath.IsAbs(path) {
		t.Errorf("Write() = %q, want an absolute path", path)
	}
	if got, want := filepath.Dir(path), d.Path; got != want {
		t.Errorf("Write() dir = %q, want %q", got, want)
	}
	if !imageName.MatchString(filepath.Base(path)) {
		t.Errorf("Write() name = %q, want qr-<32 hex>.png", filepath.Base(path))
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != 0o644 {
		t.Errorf("image mode = %v, want %v", got, os.FileMode(0o644))
	}
	dinfo, err := os.Stat(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := dinfo.Mode().Perm(); got != 0o755 {
		t.Errorf("dir mode = %v, want %v", got, os.FileMode(0o755))
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, bounds := decode(t, data)
	if got != loginURL {
		t.Errorf("decoded %q, want %q", got, loginURL)
	}
	if bounds.Dx() != DefaultDirSize {
		t.Errorf("image width = %d, want %d", bounds.Dx(), DefaultDirSize)
	}

	// Only the image is left: the temporary file was renamed, not copied.
	if got := names(t, d.Path); !slices.Equal(got, []string{filepath.Base(path)}) {
		t.Errorf("dir holds %q, want only the image", got)
	}
}

// TestWriteCaptioned: a device login's image goes into the folder as the
// others do, with its caption beside the code.
func TestWriteCaptioned(t *testing.T) {
	t.Parallel()
	d := NewDir(filepath.Join(t.TempDir(), "qr"))
	d.Size = 300
	c := Caption{Address: "https://www.google.com/device", Code: "WDJB-MJHT"}
	path, err := d.WriteCaptioned(c.Address, c)
	if err != nil {
		t.Fatalf("WriteCaptioned() error = %v", err)
	}
	if !imageName.MatchString(filepath.Base(path)) || filepath.Dir(path) != d.Path {
		t.Errorf("WriteCaptioned() = %q, want qr-<32 hex>.png in %s", path, d.Path)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != 0o644 {
		t.Errorf("image mode = %v, want %v", got, os.FileMode(0o644))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := EncodeCaptioned(c.Address, c, 300)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("the file holds %d bytes, want EncodeCaptioned's %d at Size", len(data), len(want))
	}
	if _, err := d.WriteCaptioned("", c); !errors.Is(err, ErrEmpty) {
		t.Errorf("WriteCaptioned(\"\") error = %v, want %v", err, ErrEmpty)
	}
	if got := names(t, d.Path); len(got) != 1 {
		t.Errorf("dir holds %q, want the one image", got)
	}
}

func TestWriteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	d := NewDir("qr")
	path, err := d.Write(loginURL)
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if !filepath.IsAbs(path) {
		t.Errorf("Write() = %q, want an absolute path", path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("stat written image: %v", err)
	}
}

func TestWriteNamesAreRandom(t *testing.T) {
	t.Parallel()
	d := NewDir(t.TempDir())
	seen := map[string]bool{}
	for range 20 {
		path, err := d.Write(loginURL)
		if err != nil {
			t.Fatalf("Write() error = %v", err)
		}
		if seen[path] {
			t.Fatalf("Write() returned %q twice for the same text", path)
		}
		seen[path] = true
	}
}

func TestWriteLeavesExistingDirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qr")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(dir).Write(loginURL); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o750 {
		t.Errorf("dir mode = %v, want it left at %v", got, os.FileMode(0o750))
	}
}

func TestWriteErrors(t *testing.T) {
	t.Run("empty text", func(t *testing.T) {
		d := NewDir(filepath.Join(t.TempDir(), "qr"))
		if _, err := d.Write(""); !errors.Is(err, ErrEmpty) {
			t.Errorf("Write(\"\") error = %v, want %v", err, ErrEmpty)
		}
		if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Write(\"\") created the dir (stat error %v)", err)
		}
	})
	t.Run("no path", func(t *testing.T) {
		if _, err := (&Dir{}).Write(loginURL); err == nil {
			t.Error("Write() with no Path: no error")
		}
	})
	t.Run("path is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewDir(file).Write(loginURL); err == nil {
			t.Error("Write() into a regular file: no error")
		}
	})
}

func TestSweepTTL(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	d := NewDir(dir)
	d.Now = func() time.Time { return now }

	old := touch(t, dir, newName(), now.Add(-DefaultTTL-time.Second))
	fresh := touch(t, dir, newName(), now.Add(-DefaultTTL+time.Second))
	// Other files stay, however old: the folder may be shared with them.
	others := []string{
		touch(t, dir, "notes.txt", now.Add(-time.Hour)),
		touch(t, dir, "qr-short.png", now.Add(-time.Hour)),
		touch(t, dir, "qr-0123456789ABCDEF0123456789ABCDEF.png", now.Add(-time.Hour)),
		touch(t, dir, "qr-0123456789abcdef0123456789abcdef.png.bak", now.Add(-time.Hour)),
		touch(t, dir, ".qr-123.tmp", now.Add(-time.Hour)),
	}
	subdir := filepath.Join(dir, newName()) // a directory with an image's name
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(subdir, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	if err := d.Sweep(); err != nil {
		t.Fatalf("Sweep() error = %v", err)
	}
	want := append([]string{fresh, filepath.Base(subdir)}, others...)
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("after Sweep() dir holds %q, want %q (%q removed)", got, want, old)
	}

	// Time passes: the fresh one expires too.
	now = now.Add(2 * time.Second)
	if err := d.Sweep(); err != nil {
		t.Fatalf("Sweep() error = %v", err)
	}
	if got := names(t, dir); slices.Contains(got, fresh) {
		t.Errorf("after TTL, Sweep() kept %q", fresh)
	}
}

func TestSweepMax(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	d := NewDir(dir)
	d.Max = 3

	var byAge []string // oldest first
	for i := range 5 {
		byAge = append(byAge, touch(t, dir, newName(), now.Add(time.Duration(i-5)*time.Second)))
	}
	other := touch(t, dir, "keep.png", now.Add(-time.Minute))

	if err := d.Sweep(); err != nil {
		t.Fatalf("Sweep() error = %v", err)
	}
	want := append([]string{other}, byAge[2:]...)
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("after Sweep() dir holds %q, want %q", got, want)
	}
}

func TestWriteRespectsMax(t *testing.T) {
	dir := t.TempDir()
	d := NewDir(dir)
	d.Max = 3
	now := time.Now()
	for i := range 3 {
		touch(t, dir, newName(), now.Add(time.Duration(i-10)*time.Second))
	}
	path, err := d.Write(loginURL)
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	got := names(t, dir)
	if len(got) != d.Max {
		t.Errorf("after Write() dir holds %d images %q, want %d", len(got), got, d.Max)
	}
	if !slices.Contains(got, filepath.Base(path)) {
		t.Errorf("after Write() dir holds %q, want the new %q among them", got, filepath.Base(path))
	}
}

func TestSweepMissingDir(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "never-created"))
	if err := d.Sweep(); err != nil {
		t.Errorf("Sweep() of a missing dir error = %v, want nil", err)
	}
}

func TestZeroDirUsesDefaults(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	path, err := d.Write(loginURL)
	if err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, bounds := decode(t, data); bounds.Dx() != DefaultDirSize {
		t.Errorf("image width = %d, want %d", bounds.Dx(), DefaultDirSize)
	}
	if err := d.Sweep(); err != nil {
		t.Errorf("Sweep() error = %v", err)
	}
	if got := names(t, d.Path); len(got) != 1 {
		t.Errorf("a fresh image was swept: dir holds %q", got)
	}
}

func TestWriteConcurrent(t *testing.T) {
	d := NewDir(filepath.Join(t.TempDir(), "qr"))
	d.Max = 5
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := d.Write(loginURL); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Write() error = %v", err)
	}
	if got := names(t, d.Path); len(got) != d.Max {
		t.Errorf("after %d writes dir holds %d files %q, want %d", n, len(got), got, d.Max)
	}
}

func BenchmarkWrite(b *testing.B) {
	d := NewDir(b.TempDir())
	for b.Loop() {
		if _, err := d.Write(loginURL); err != nil {
			b.Fatal(err)
		}
	}
}

// touch creates dir/name with the given modification time and returns name.
func touch(t *testing.T, dir, name string, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return name
}

// names lists dir's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
