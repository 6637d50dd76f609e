package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// queueLog records what a queue did with each request, by key and number.
type queueLog struct {
	mu      sync.Mutex
	started []string // "key/n", in the order they started
	at      map[string]time.Time
	sent    []string // replies sent
	busy    map[string]string
	running map[string]int // per key, requests running now
	most    map[string]int // per key, most running at once
	both    bool           // two keys ran at once
}

func newQueueLog() *queueLog {
	return &queueLog{at: map[string]time.Time{}, busy: map[string]string{}, running: map[string]int{}, most: map[string]int{}}
}

func (l *queueLog) snapshot() (started, sent []string, busy map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	busy = make(map[string]string, len(l.busy))
	for k, v := range l.busy {
		busy[k] = v
	}
	return slices.Clone(l.started), slices.Clone(l.sent), busy
}

// testQueue is a queue whose requests hold for hold[name] of the bubble's
// time, whatever their context (0: they return at once), or until their
// context ends when hold is negative.
func testQueue(l *queueLog, hold map[string]time.Duration) *queue {
	do := func(ctx context.Context, r *request) func() {
		name := r.m.Type
		l.mu.Lock()
		l.started = append(l.started, name)
		l.at[name] = time.Now()
		l.running[r.key]++
		l.most[r.key] = max(l.most[r.key], l.running[r.key])
		if len(l.running) > 1 {
			n := 0
			for _, c := range l.running {
				if c > 0 {
					n++
				}
			}
			l.both = l.both || n > 1
		}
		l.mu.Unlock()
		switch d := hold[name]; {
		case d < 0:
			<-ctx.Done()
		case d > 0:
			// Work that goes on past its deadline: a refresh, an
			// exchange.
			time.Sleep(d)
		}
		l.mu.Lock()
		l.running[r.key]--
		l.mu.Unlock()
		return func() {
			l.mu.Lock()
			l.sent = append(l.sent, name)
			l.mu.Unlock()
		}
	}
	busy := func(r *request, why string) {
		l.mu.Lock()
		l.busy[r.m.Type] = why
		l.mu.Unlock()
	}
	return newQueue(1024, 64, 16<<20, 2500*time.Millisecond, do, busy)
}

// req is request n about app key, of size bytes; its type names it.
func req(key string, n, size int) *request {
	r := &request{key: key, size: size, arrived: time.Now()}
	r.m.Type = fmt.Sprintf("%s/%d", key, n)
	return r
}

// runQueue runs q in the test's bubble; stop ends Run and waits for it.
func runQueue(t *testing.T, q *queue) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
}

// TestQueueOneAppInOrder: an app's requests run one at a time, in the
// order they arrived; another app's run beside them.
func TestQueueOneAppInOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newQueueLog()
		q := testQueue(l, map[string]time.Duration{"a/0": time.Second, "a/1": time.Second, "b/0": time.Second})
		stop := runQueue(t, q)
		for i := range 4 {
			q.push(req("a", i, 10))
		}
		q.push(req("b", 0, 10))
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		stop()

		started, sent, busy := l.snapshot()
		var a []string
		for _, s := range started {
			if s[0] == 'a' {
				a = append(a, s)
			}
		}
		if want := []string{"a/0", "a/1", "a/2", "a/3"}; !slices.Equal(a, want) {
			t.Errorf("app a's requests started in the order %v, want %v", a, want)
		}
		if len(sent) != 5 || len(busy) != 0 {
			t.Errorf("sent %v, busy %v; want all five sent", sent, busy)
		}
		if l.most["a"] != 1 {
			t.Errorf("%d of app a's requests ran at once, want 1", l.most["a"])
		}
		if !l.both {
			t.Errorf("app b's request waited for app a's, want them run at once")
		}
	})
}

// TestQueueBounds: past 64 requests waiting for one app, 16 MiB waiting in
// all or 1024 requests waiting in all, a request is answered busy at once,
// never dropped; the others run once Run starts.
func TestQueueBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		push    func(q *queue) (pushed int)
		refused int
	}{
		{"per app", func(q *queue) int {
			for i := range 70 {
				q.push(req("a", i, 10))
			}
			return 70
		}, 6},
		{"bytes", func(q *queue) int {
			for i := range 20 {
				q.push(req(fmt.Sprint("app", i), 0, 1<<20))
			}
			return 20
		}, 4},
		{"a lone request too large", func(q *queue) int { q.push(req("a", 0, 16<<20+1)); return 1 }, 1},
		{"in all", func(q *queue) int {
			for i := range 1030 {
				q.push(req(fmt.Sprint("app", i%20), i, 10))
			}
			return 1030
		}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := newQueueLog()
				q := testQueue(l, nil)
				// Not running: nothing leaves the queue.
				pushed := tt.push(q)
				synctest.Wait()
				_, _, busy := l.snapshot()
				if len(busy) != tt.refused {
					t.Errorf("%d requests answered busy at once, want %d", len(busy), tt.refused)
				}
				for name, why := range busy {
					if why != "request refused, queue full" {
						t.Errorf("%s answered busy because %q, want the queue full", name, why)
					}
				}
				stop := runQueue(t, q)
				synctest.Wait()
				stop()
				started, sent, _ := l.snapshot()
				if want := pushed - tt.refused; len(started) != want || len(sent) != want {
					t.Errorf("%d started, %d sent, want %d: every request but the refused, once", len(started), len(sent), want)
				}
			})
		})
	}
}

// TestQueueBusyAtDeadline: a request still waiting behind its app's others
// 2.5 s after it arrived, or still running then, is answered busy then; the
// running one's late reply is not sent, and it is waited for before the
// app's next request starts.
func TestQueueBusyAtDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newQueueLog()
		q := testQueue(l, map[string]time.Duration{"a/0": 3 * time.Second})
		stop := runQueue(t, q)
		t0 := time.Now()
		q.push(req("a", 0, 10))
		q.push(req("a", 1, 10))
		time.Sleep(2500*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if _, _, busy := l.snapshot(); len(busy) != 0 {
			t.Errorf("busy %v before the deadline", busy)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		_, _, busy := l.snapshot()
		want := map[string]string{
			"a/0": "request answered busy, it took too long",
			"a/1": "request refused, waited too long behind this app's others",
		}
		if fmt.Sprint(busy) != fmt.Sprint(want) {
			t.Errorf("at %v busy = %v, want %v", time.Since(t0), busy, want)
		}
		q.push(req("a", 2, 10))
		time.Sleep(time.Second)
		synctest.Wait()
		stop()
		started, sent, _ := l.snapshot()
		if want := []string{"a/0", "a/2"}; !slices.Equal(started, want) || !slices.Equal(sent, []string{"a/2"}) {
			t.Errorf("started %v, sent %v; want %v started and only a/2 sent", started, sent, want)
		}
		if at := l.at["a/2"].Sub(t0); at != 3*time.Second {
			t.Errorf("a/2 started at +%v, want +3s, when a/0 ended", at)
		}
	})
}

// TestQueueStopsAtShutdown: when Run's context ends, requests waiting are
// dropped (their askers time out, as with the daemon stopped), the running
// ones' context ends and Run waits for them, and later ones are dropped.
func TestQueueStopsAtShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newQueueLog()
		q := testQueue(l, map[string]time.Duration{"a/0": -1})
		stop := runQueue(t, q)
		q.push(req("a", 0, 10))
		q.push(req("a", 1, 10))
		synctest.Wait()
		stop()
		q.push(req("b", 0, 10))
		time.Sleep(time.Minute)
		synctest.Wait()
		started, sent, busy := l.snapshot()
		if !slices.Equal(started, []string{"a/0"}) || !slices.Equal(sent, []string{"a/0"}) || len(busy) != 0 {
			t.Errorf("started %v, sent %v, busy %v; want a/0 run to its end, nothing else", started, sent, busy)
		}
		if l.running["a"] != 0 {
			t.Errorf("Run returned with a request running")
		}
	})
}
