//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often a lock held by another process is tried again.
const lockPoll = 10 * time.Millisecond

// lockFile takes an exclusive flock(2) on the file at path, as json_database's
// ComboLock does (through py-filelock), creating the file if it is missing; it
// is never deleted, as a waiter may hold it open. It tries without blocking
// until timeout has passed, so a process that holds the lock for ever cannot
// hang a caller. release drops the lock.
func lockFile(path string, timeout time.Duration) (release func(), err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if err == syscall.EINTR {
			continue
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another process after %v", path, timeout)
		}
		time.Sleep(min(wait, lockPoll))
	}
}

// openLockFile opens the lock file, creating it (mode 0666 less the umask)
// if it is missing. O_NOFOLLOW because it lives in a world-writable
// directory, where a link another user planted must not make us create a
// file elsewhere. A lock file another user made without write access for us
// is opened read-only: flock needs none.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o666)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	return f, nil
}
