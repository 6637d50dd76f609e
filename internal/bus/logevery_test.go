package bus

import (
	"testing"
	"time"
)

func TestLogEvery(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at     time.Duration
		wantN  int
		wantOK bool
	}{
		{0, 1, true},                 // the first occurrence is logged at once
		{time.Second, 0, false},      // then held back...
		{9 * time.Second, 0, false},  // ...for the interval
		{10 * time.Second, 3, true},  // and counted: 2 held + this one
		{11 * time.Second, 0, false}, // a new interval started
		{time.Minute, 2, true},       // a quiet spell: the next one is logged at once
		{time.Minute + time.Millisecond, 0, false},
	}
	var l logEvery
	for _, s := range steps {
		n, ok := l.allow(t0.Add(s.at), 10*time.Second)
		if n != s.wantN || ok != s.wantOK {
			t.Errorf("allow(+%v) = %d, %v; want %d, %v", s.at, n, ok, s.wantN, s.wantOK)
		}
	}
}
