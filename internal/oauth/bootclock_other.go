//go:build !linux

package oauth

import "time"

// BootClock is time.Now, whose monotonic part Go compares by, where the
// time since boot is not read: an Engine's Monotonic.
func BootClock() time.Time { return time.Now() }
