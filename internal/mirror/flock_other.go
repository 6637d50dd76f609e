//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package mirror

import (
	"errors"
	"fmt"
	"time"
)

// lockFile fails: json_database's lock is a flock(2), which this system
// lacks, and writing without it could lose another program's change.
func lockFile(path string, _ time.Duration) (release func(), err error) {
	return nil, fmt.Errorf("lock %s: flock: %w", path, errors.ErrUnsupported)
}
