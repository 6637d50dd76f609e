package bus

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
)

// ceiling is the largest delay backoff may return for attempt n.
func ceiling(minD, maxD time.Duration, n int) time.Duration {
	c := minD
	for range n {
		if c >= maxD {
			break
		}
		c *= 2
	}
	return min(c, maxD)
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	const minD, maxD = 200 * time.Millisecond, 15 * time.Second
	tests := []struct {
		name string
		rand func(int64) int64
		want []time.Duration
	}{{
		name: "lowest draw stays at the floor",
		rand: func(int64) int64 { return 0 },
		want: []time.Duration{minD, minD, minD, minD, minD},
	}, {
		name: "highest draw doubles up to the cap",
		rand: func(n int64) int64 { return n - 1 },
		want: []time.Duration{
			200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
			1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond,
			12800 * time.Millisecond, maxD, maxD, maxD,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff{min: minD, max: maxD, rand: tt.rand}
			for i, want := range tt.want {
				if got := b.next(); got != want {
					t.Errorf("next() #%d = %v, want %v", i, got, want)
				}
			}
			b.reset()
			if got := b.next(); got != minD {
				t.Errorf("next() after reset() = %v, want %v", got, minD)
			}
		})
	}
}

func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	const minD, maxD = 200 * time.Millisecond, 15 * time.Second
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		b := backoff{min: minD, max: maxD, rand: r.Int64N}
		var sum time.Duration
		const n = 20
		for i := range n {
			got := b.next()
			if hi := ceiling(minD, maxD, i); got < minD || got > hi {
				t.Fatalf("run %d: next() #%d = %v, want within [%v, %v]", run, i, got, minD, hi)
			}
			sum += got
		}
		if sum == n*minD || sum == n*maxD {
			t.Fatalf("run %d: no jitter, every delay the same", run)
		}
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	t.Parallel()
	b := backoff{min: time.Nanosecond, max: math.MaxInt64, rand: func(n int64) int64 { return n - 1 }}
	prev := time.Duration(0)
	for i := range 200 {
		got := b.next()
		if got < prev || got <= 0 {
			t.Fatalf("next() #%d = %v after %v", i, got, prev)
		}
		prev = got
	}
	if prev != math.MaxInt64 {
		t.Errorf("last next() = %v, want the cap %v", prev, time.Duration(math.MaxInt64))
	}
}

// TestRunBackoff drives Run's reconnect loop in fake time against a bus that
// refuses every dial.
func TestRunBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const minD, maxD, dials = 100 * time.Millisecond, 2 * time.Second, 15
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var (
			mu    sync.Mutex
			times []time.Time
		)
		c := NewClient("ws://bus.invalid/core", nil)
		c.MinBackoff, c.MaxBackoff = minD, maxD
		c.Dialer = &websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			times = append(times, time.Now())
			if len(times) == dials {
				cancel()
			}
			return nil, errors.New("connection refused")
		}}
		if err := c.Run(ctx, nopHandler{}); err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		if len(times) != dials {
			t.Fatalf("dialled %d times, want %d", len(times), dials)
		}
		for i := 1; i < len(times); i++ {
			gap := times[i].Sub(times[i-1])
			if hi := ceiling(minD, maxD, i-1); gap < minD || gap > hi {
				t.Errorf("gap before dial %d = %v, want within [%v, %v]", i+1, gap, minD, hi)
			}
		}
	})
}

type nopHandler struct{}

func (nopHandler) Handles(string) bool   { return false }
func (nopHandler) Dispatch(Message)      {}
func (nopHandler) Invalid(string, error) {}
