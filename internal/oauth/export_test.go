package oauth

// LoadSchedule and Scheduled expose the refresh plan to benchmarks.
func (e *Engine) LoadSchedule() error { return e.loadSchedule() }

func (e *Engine) Scheduled() int { return e.sched.len() }
