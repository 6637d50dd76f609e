package oauth

import (
	"time"

	"golang.org/x/sys/unix"
)

// BootClock is the time since the machine booted, suspended time included
// (CLOCK_BOOTTIME), as a time.Time to subtract from another of its
// readings: an Engine's Monotonic. Setting the wall clock does not move it,
// and unlike Go's monotonic clock it does not stand still while the
// machine sleeps, so that waking from a suspend is not taken for a jump of
// the clock. Where it cannot be read it is time.Now.
func BootClock() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Now()
	}
	return time.Unix(ts.Unix())
}
