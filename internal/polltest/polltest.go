// Package polltest waits, in tests, for what another goroutine or process
// brings about without a signal to wait on: a file written, a count
// reached, a log line, a server gone. Where a channel or
// testing/synctest can tell, use those instead.
package polltest

import (
	"testing"
	"time"
)

// Limit is how long Until and UntilNil wait before they fail the test: far
// longer than any condition takes on a slow, loaded machine, so that only a
// test that will never see its condition waits this long.
const Limit = 20 * time.Second

// Until calls cond until it returns true, and fails tb, saying that it
// waited for what, if Limit passes first. It sleeps between calls, a
// millisecond at first and at most 16 ms, so a busy machine is not kept
// busier.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !poll(func() bool { return cond() }) {
		tb.Fatalf("waited %v for %s", Limit, what)
	}
}

// UntilNil is Until for a condition that says what it found while it does
// not hold: it calls cond until it returns nil, and fails tb with the last
// error if Limit passes first.
func UntilNil(tb testing.TB, cond func() error) {
	tb.Helper()
	var err error
	if !poll(func() bool { err = cond(); return err == nil }) {
		tb.Fatalf("waited %v: %v", Limit, err)
	}
}

func poll(cond func() bool) bool {
	deadline := time.Now().Add(Limit)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 16*time.Millisecond)
	}
	return true
}
