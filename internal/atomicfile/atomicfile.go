// Package atomicfile replaces files whole: a reader, or the disk after a
// crash or a power cut, sees the old file or the new one, never a part.
//
// A file is written to a temporary file in the same directory, whose name
// begins with a dot and never matches the final one, given its mode, fsync'd,
// renamed over the final name, and the directory fsync'd so that the rename
// itself survives a power cut. A write that fails leaves the old file as it
// was and removes the temporary one; a crash can leave a temporary file
// behind, but never a partial file under the final name.
package atomicfile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, with mode perm whatever the umask and the
// mode of the file it replaces. The directory must exist. Safe for
// concurrent use on different paths; writers of one path must take turns
// if the last one is to win.
func Write(path string, data []byte, perm fs.FileMode) error {
	_, err := WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return err
}

// WriteFunc is Write for content that write streams. It returns the file as
// written: its identity, size and modification time are what os.Stat of path
// shows until someone else changes it, as a rename keeps them. If
// write fails, the old file stays and write's error is returned. Errors from
// the file system name the paths they concern.
func WriteFunc(path string, perm fs.FileMode, write func(io.Writer) error) (fs.FileInfo, error) {
	dir := filepath.Dir(path)
	tmp, written, err := writeTemp(dir, "."+filepath.Base(path)+".tmp-*", perm, write)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	if err := SyncDir(dir); err != nil {
		return nil, err
	}
	return written, nil
}

// writeTemp writes a new file in dir, named after pattern as os.CreateTemp
// does, and returns its name and what it is once it is on the disk. On an
// error, nothing is left behind.
func writeTemp(dir, pattern string, perm fs.FileMode, write func(io.Writer) error) (name string, written fs.FileInfo, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	// Before the content goes in: a file meant to be private is never
	// anything else, and one the umask would hide is readable once renamed.
	if err := f.Chmod(perm); err != nil {
		return "", nil, err
	}
	if err := write(f); err != nil {
		return "", nil, err
	}
	if err := f.Sync(); err != nil {
		return "", nil, err
	}
	if written, err = f.Stat(); err != nil {
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		return "", nil, err
	}
	return f.Name(), written, nil
}

// SyncDir fsyncs the directory dir, so that a rename or a removal in it
// survives a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
