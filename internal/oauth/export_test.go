package oauth

import "time"

// LoadSchedule and Scheduled expose the refresh plan to benchmarks.
func (e *Engine) LoadSchedule() error { return e.loadSchedule() }

func (e *Engine) Scheduled() int { return e.sched.len() }

// CheckClockEvery sets how often Run looks for a jump of the clock, for
// tests that span months without one: a bubble's wake-ups cost.
func (e *Engine) CheckClockEvery(d time.Duration) { e.checkClock = d }
