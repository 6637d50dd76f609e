package polltest

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a testing.TB that notes a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

// TestUntil: a condition that comes true ends the wait at once; one that
// never does fails the test once Limit has passed, saying what it waited
// for.
func TestUntil(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		r := &recorder{TB: t}
		Until(r, "the third call", func() bool { calls++; return calls == 3 })
		if r.failed != "" || calls != 3 {
			t.Errorf("Until() of a condition true at the third call: failed %q after %d calls", r.failed, calls)
		}
		if waited := time.Since(start); waited > 10*time.Millisecond {
			t.Errorf("Until() waited %v for a condition true at the third call", waited)
		}

		start = time.Now()
		Until(r, "nothing", func() bool { return false })
		if waited := time.Since(start); waited < Limit || waited > Limit+time.Second {
			t.Errorf("Until() of a condition never true gave up after %v, want %v", waited, Limit)
		}
		if !strings.Contains(r.failed, "nothing") {
			t.Errorf("Until() of a condition never true failed with %q, want it to say what it waited for", r.failed)
		}
	})
}

// TestUntilNil: the wait ends when the condition says nil, and a failure
// gives its last error.
func TestUntilNil(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := 0
		r := &recorder{TB: t}
		UntilNil(r, func() error {
			if n++; n < 3 {
				return fmt.Errorf("%d of 3", n)
			}
			return nil
		})
		if r.failed != "" || n != 3 {
			t.Errorf("UntilNil() of a condition nil at the third call: failed %q after %d calls", r.failed, n)
		}

		n = 0
		UntilNil(r, func() error { n++; return fmt.Errorf("%d calls", n) })
		if want := fmt.Sprintf("%d calls", n); !strings.HasSuffix(r.failed, want) {
			t.Errorf("UntilNil() failed with %q, want the last error, %q", r.failed, want)
		}
		if n < 2 {
			t.Errorf("UntilNil() called a failing condition %d times", n)
		}
	})
}
