//go:build !unix

package store

import (
	"os"
	"time"
)

// lockFile does nothing where flock is missing: bbolt locks the file
// itself, after the check.
func lockFile(*os.File, bool, time.Duration) error { return nil }
