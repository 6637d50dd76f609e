package qr

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
)

// Defaults that NewDir sets and that Dir also falls back to for zero fields.
const (
	DefaultTTL     = 10 * time.Minute
	DefaultMax     = 64
	DefaultDirSize = 384
)

const (
	namePrefix = "qr-"
	nameSuffix = ".png"
	nameRandom = 16 // bytes of crypto/rand, 32 hex characters in the name
)

// Dir is a folder of QR-code PNGs that a GUI running as another user reads.
//
// The exported fields are options, set by NewDir to their defaults and
// changeable before first use; a zero or negative TTL, Max or Size and a nil
// Now mean the default. Write and Sweep are safe for concurrent use within
// one process; the folder should belong to that process alone, as Sweep
// removes any file whose name looks like one of its images.
type Dir struct {
	Path string           // directory of the PNGs
	TTL  time.Duration    // images older than this are removed by Sweep
	Max  int              // keep at most this many images, oldest removed first
	Size int              // pixel size of each image (the height of a captioned one)
	Now  func() time.Time // clock for Sweep's age checks

	mu sync.Mutex // serialises sweeps and writes, so Max holds
}

// NewDir returns a Dir for path with default options. Nothing is created on
// disk until the first Write.
func NewDir(path string) *Dir {
	return &Dir{
		Path: path,
		TTL:  DefaultTTL,
		Max:  DefaultMax,
		Size: DefaultDirSize,
		Now:  time.Now,
	}
}

// Write encodes text as a PNG into the folder and returns the file's absolute
// path. It creates the folder (mode 0755) if needed and sweeps it first,
// making room so that at most Max images exist afterwards. The file is named
// "qr-<32 random hex>.png", has mode 0644 whatever the umask, and appears
// whole or not at all (written to a temporary file, then renamed).
func (d *Dir) Write(text string) (string, error) {
	// Encode outside the lock: it is the slow part and touches no state.
	png, err := Encode(text, d.size())
	if err != nil {
		return "", err
	}
	return d.write(png)
}

// WriteCaptioned is Write for an image with c written beside the QR code
// (EncodeCaptioned), Size pixels high.
func (d *Dir) WriteCaptioned(text string, c Caption) (string, error) {
	png, err := EncodeCaptioned(text, c, d.size())
	if err != nil {
		return "", err
	}
	return d.write(png)
}

// write puts an encoded image into the folder, as Write describes.
func (d *Dir) write(png []byte) (string, error) {
	dir, err := d.abs()
	if err != nil {
		return "", err
	}

	d.mu.Lock()
	defer d.mu.Unlock()

	if err := ensureDir(dir); err != nil {
		return "", err
	}
	if err := checkOwned(dir); err != nil {
		return "", err
	}
	// A failed sweep must not stop a login from showing its code; a caller
	// that wants to hear about it runs Sweep on its own schedule.
	_ = d.sweep(dir, d.max()-1)

	path := filepath.Join(dir, newName())
	// Whole or not at all, under a temporary name that does not look like an
	// image, so neither a reader nor a sweep sees a part of one; 0644
	// whatever the umask, as the GUI runs as another user.
	if err := atomicfile.Write(path, png, 0o644); err != nil {
		return "", fmt.Errorf("write qr image: %w", err)
	}
	return path, nil
}

// Sweep removes the folder's images whose modification time is more than TTL
// before Now, then the oldest of the rest beyond Max. Files whose names are not
// "qr-<32 hex>.png" are never touched; a missing folder is not an error.
func (d *Dir) Sweep() error {
	dir, err := d.abs()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sweep(dir, d.max())
}

// sweep removes expired images and all but the newest keep others. d.mu is held.
func (d *Dir) sweep(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep qr dir: %w", err)
	}

	type image struct {
		name  string
		mtime time.Time
	}
	var (
		kept   []image
		errs   []error
		cutoff = d.now().Add(-d.ttl())
	)
	remove := func(name string) {
		err := os.Remove(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isImageName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.ModTime().Before(cutoff) {
			remove(e.Name())
			continue
		}
		kept = append(kept, image{e.Name(), info.ModTime()})
	}

	if excess := len(kept) - max(keep, 0); excess > 0 {
		slices.SortFunc(kept, func(a, b image) int {
			if c := a.mtime.Compare(b.mtime); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		for _, img := range kept[:excess] {
			remove(img.name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep qr dir: %w", err)
	}
	return nil
}

func (d *Dir) abs() (string, error) {
	if d.Path == "" {
		return "", errors.New("qr: no directory set")
	}
	dir, err := filepath.Abs(d.Path)
	if err != nil {
		return "", fmt.Errorf("qr dir %s: %w", d.Path, err)
	}
	return dir, nil
}

func (d *Dir) ttl() time.Duration {
	if d.TTL <= 0 {
		return DefaultTTL
	}
	return d.TTL
}

func (d *Dir) max() int {
	if d.Max <= 0 {
		return DefaultMax
	}
	return d.Max
}

func (d *Dir) size() int {
	if d.Size <= 0 {
		return DefaultDirSize
	}
	return d.Size
}

func (d *Dir) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// ensureDir creates dir, and any missing parents, readable by everyone. The
// daemon runs with a strict umask (systemd UMask=0077), which would leave new
// folders 0700 and the images out of the GUI user's reach, so each folder it
// creates gets 0755 explicitly. Existing folders are left as their owners
// made them.
func ensureDir(dir string) error {
	info, err := os.Stat(dir)
	if err == nil {
		if !info.IsDir() {
			return fmt.Errorf("qr dir %s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("qr dir: %w", err)
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := ensureDir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
		return nil // made meanwhile by someone else: theirs to set
	} else if err != nil {
		return fmt.Errorf("create qr dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create qr dir: %w", err)
	}
	return nil
}

// newName returns a fresh image name. It comes from crypto/rand alone so that
// a name in a world-readable folder reveals nothing about the link inside.
func newName() string {
	var b [nameRandom]byte
	rand.Read(b[:]) // never fails (Go 1.24+: it crashes the program instead)
	return namePrefix + hex.EncodeToString(b[:]) + nameSuffix
}

// isImageName reports whether name is one newName could have returned.
func isImageName(name string) bool {
	hexPart, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return false
	}
	hexPart, ok = strings.CutSuffix(hexPart, nameSuffix)
	if !ok || len(hexPart) != 2*nameRandom {
		return false
	}
	for _, c := range []byte(hexPart) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
