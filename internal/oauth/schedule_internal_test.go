package oauth

import (
	"testing"
	"time"
)

// TestScheduleMergeKeepsNewerPlans: a plan read from the store at start-up
// does not overwrite one made meanwhile by a login that just finished.
func TestScheduleMergeKeepsNewerPlans(t *testing.T) {
	t.Parallel()
	s := newSchedule()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s.set(job{jobRefresh, "fresh"}, t0.Add(time.Hour))
	s.merge(map[job]time.Time{{jobRefresh, "fresh"}: t0, {jobRefresh, "old"}: t0.Add(time.Minute)})
	if next, _ := s.next(jobRefresh); !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("next = %v, want the loaded app's %v", next, t0.Add(time.Minute))
	}
	if id, ok := s.popDue(jobRefresh, t0.Add(30*time.Minute)); !ok || id != (job{jobRefresh, "old"}) {
		t.Fatalf("popDue = %q, %v; want old", id, ok)
	}
	if _, ok := s.popDue(jobRefresh, t0.Add(30*time.Minute)); ok {
		t.Errorf("the login's plan was replaced by the stale one from the store")
	}
	if s.len() != 1 {
		t.Errorf("len = %d, want 1", s.len())
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for faults, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 10: 30 * time.Minute, 100: 30 * time.Minute} {
		for range 50 {
			d := backoff(faults, 30*time.Second, 30*time.Minute)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("backoff(%d) = %v, want %v ±20%%", faults, d, want)
			}
		}
	}
}
