package bus

import "time"

// logEvery holds a recurring log line to at most one per interval and
// counts the occurrences in between, so that a flood of bad frames costs
// one line, not one per frame. It is not safe for concurrent use.
type logEvery struct {
	next time.Time // no line before then
	held int       // occurrences since the last line
}

// allow counts one occurrence at now and reports whether to log it. When it
// does, n is the number of occurrences since the previous line, this one
// included.
func (l *logEvery) allow(now time.Time, every time.Duration) (n int, ok bool) {
	l.held++
	if now.Before(l.next) {
		return 0, false
	}
	n, l.held, l.next = l.held, 0, now.Add(every)
	return n, true
}
