package bus

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// nonceOf is a distinct nonce for each i, as random as need be: i mixed by
// a multiplier.
func nonceOf(i int) [nonceSize]byte {
	var n [nonceSize]byte
	binary.LittleEndian.PutUint64(n[:8], uint64(i)*0x9e3779b97f4a7c15)
	n[15] = 0xa5
	return n
}

func TestReplayGuardRefusesSeenNonce(t *testing.T) {
	t.Parallel()
	g := replayGuard{window: time.Hour, limit: 10}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		nonce int
		want  bool
	}{{1, true}, {1, false}, {2, true}, {1, false}, {2, false}, {3, true}}
	for i, s := range steps {
		if got := g.fresh(nonceOf(s.nonce), now); got != s.want {
			t.Errorf("step %d: fresh(%d) = %v, want %v", i, s.nonce, got, s.want)
		}
	}
}

// TestReplayGuardWindow: on a quiet bus (one frame a minute, far below the
// count bound) every nonce is remembered for at least the window, older
// ones are forgotten, and the guard holds at most two windows of them.
func TestReplayGuardWindow(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Minute
	g := replayGuard{window: window, limit: 1 << 20}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	const frames = 300
	for i := range frames {
		if !g.fresh(nonceOf(i), at(i)) {
			t.Fatalf("fresh(%d) = false, want true: never seen", i)
		}
		for j := i; j >= 0 && at(i).Sub(at(j)) <= window; j-- {
			if !g.has(nonceOf(j)) {
				t.Fatalf("at minute %d the nonce of minute %d is forgotten, want it remembered for %v", i, j, window)
			}
		}
		if g.len() > 2*int(window/time.Minute)+2 {
			t.Fatalf("at minute %d the guard holds %d nonces, want at most two windows' worth", i, g.len())
		}
	}
	// Long after, a frame sent again is taken as new: the bound the
	// window sets.
	if g.has(nonceOf(0)) || !g.fresh(nonceOf(0), at(frames)) {
		t.Errorf("the nonce of minute 0 is still remembered %d minutes later, want it forgotten", frames)
	}
}

// TestReplayGuardLimit: under a flood (every frame at one instant) a nonce
// is remembered until limit newer ones have come, and the guard never
// holds more than twice limit.
func TestReplayGuardLimit(t *testing.T) {
	t.Parallel()
	const limit = 8
	g := replayGuard{window: time.Hour, limit: limit}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		if !g.fresh(nonceOf(i), now) {
			t.Fatalf("fresh(%d) = false, want true: never seen", i)
		}
		for j := max(0, i-limit); j <= i; j++ {
			if !g.has(nonceOf(j)) {
				t.Fatalf("after nonce %d, nonce %d is forgotten, want it remembered until %d newer ones", i, j, limit)
			}
		}
		if g.len() > 2*limit {
			t.Fatalf("after nonce %d the guard holds %d nonces, want at most %d", i, g.len(), 2*limit)
		}
	}
	if g.has(nonceOf(0)) {
		t.Error("nonce 0 is remembered after 99 newer ones, want it forgotten")
	}
}

// TestReplayGuardFloodMemory: with the Client's own bounds, a flood of
// frames leaves at most 2*replayLimit nonces, whose memory is a few MB and
// goes back once they are dropped.
func TestReplayGuardFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills the guard several times over")
	}
	g := replayGuard{window: replayWindow, limit: replayLimit}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const frames = 5 * replayLimit
	for i := range frames {
		g.fresh(nonceOf(i), now)
		if g.len() > 2*replayLimit {
			t.Fatalf("after %d frames the guard holds %d nonces, want at most %d", i+1, g.len(), 2*replayLimit)
		}
	}
	for i := frames - replayLimit; i < frames; i++ {
		if !g.has(nonceOf(i)) {
			t.Fatalf("nonce %d of the last %d is forgotten", i, replayLimit)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d nonces held in %.1f MB of heap", g.len(), float64(held)/(1<<20))
	if held > 6<<20 {
		t.Errorf("the guard holds %d MB after a flood, want a few", held>>20)
	}
	runtime.KeepAlive(&g)
}
