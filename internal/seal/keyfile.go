package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/OpenVoiceOS/ovos-oauth/internal/atomicfile"
)

// ReadKeyFile returns the key in the file at path: KeySize raw bytes, or
// 2*KeySize hex digits with optional surrounding white space (the form
// CreateKeyFile writes). A file it cannot read or that holds no key gives
// a *KeyFileError, which for a missing file wraps fs.ErrNotExist. Errors
// name the file but never hold any of its content.
//
// Like ssh with a private key, it refuses a file that users other than its
// owner could read or change (group or other permission bits, or an ACL
// that grants access), or that another user owns, with an *ExposedError,
// matching ErrKeyExposed, that gives the command that fixes it; see
// checkAccess.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unreadable(path, fmt.Errorf("read key file: %w", err)) // *PathError names the file
	}
	defer f.Close()
	if err := checkPrivate(f, path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, unreadable(path, fmt.Errorf("read key file: %w", err))
	}
	if len(data) == KeySize {
		return data, nil
	}
	bad := &KeyFileError{Path: path, Problem: KeyFileNotAKey, Size: len(data),
		Err: fmt.Errorf("key file %s: want %d bytes or %d hex digits, the file holds %d bytes that are neither", path, KeySize, 2*KeySize, len(data))}
	text := bytes.TrimSpace(data)
	if len(text) != 2*KeySize {
		return nil, bad
	}
	key := make([]byte, KeySize)
	if _, err := hex.Decode(key, text); err != nil {
		return nil, bad // hex's error quotes the offending byte, a piece of the key
	}
	return key, nil
}

// KeyFileError is the error of ReadKeyFile for a key file it cannot read,
// or whose content is no key. Its Error is English, for logs, and holds
// none of the file's content; it wraps the cause of a read that failed, so
// that a missing file matches fs.ErrNotExist.
type KeyFileError struct {
	Path    string
	Problem KeyFileProblem
	// Size is the number of bytes of a file that holds no key.
	Size int
	Err  error
}

func (e *KeyFileError) Error() string { return e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// KeyFileProblem says what is wrong with a key file.
type KeyFileProblem int

const (
	// KeyFileUnreadable: the file cannot be read (Err says why).
	KeyFileUnreadable KeyFileProblem = iota
	// KeyFileNotAKey: it holds Size bytes that are not a key.
	KeyFileNotAKey
)

func unreadable(path string, err error) error {
	return &KeyFileError{Path: path, Problem: KeyFileUnreadable, Err: err}
}

// CreateKeyFile makes a new random key and writes it to path as hex digits
// and a newline, at mode 0600, creating the parent directory (0700) if
// missing. It writes a temporary file in the same directory, fsyncs it,
// renames it to path and fsyncs the directory, so after a crash path holds
// either no key or the whole key. It refuses to replace an existing file.
func CreateKeyFile(path string) ([]byte, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create key file %s: %w", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := atomicfile.Write(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	return key, nil
}
