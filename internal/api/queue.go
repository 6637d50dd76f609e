package api

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// request is a request on its way from the bus's read loop to its reply.
type request struct {
	m        bus.Message
	h        handler
	key      string // the app it is about
	size     int
	arrived  time.Time
	deadline time.Time
	expire   *time.Timer // answers it busy while it waits, at its deadline
}

// queue runs requests so that each gets its one reply in time: those about
// one app one at a time, in the order they arrived; those about different
// apps at once, so a slow provider or a flood of requests for one app
// delays only that app. A request gets its reply from do by its deadline,
// replyWithin after it arrived, or is answered busy by then: when it does
// not fit, when it waited behind its app's others until its deadline, or
// when it ran past it (its work goes on, and its late reply is dropped).
//
// push may be called from any goroutine, before Run, during it (requests
// pushed before Run wait for it) and after it (they are dropped).
type queue struct {
	maxQueued, maxPerApp, maxBytes int
	replyWithin                    time.Duration
	// do runs a request, with ctx ending at its deadline or at shutdown,
	// and returns what sends its reply, which queue calls unless the
	// request was answered busy meanwhile.
	do func(ctx context.Context, r *request) (send func())
	// busy answers a request "busy"; why says why, for the log.
	busy func(r *request, why string)

	// life is the requests' context: cancelled when Run's ends.
	life    context.Context
	stop    context.CancelFunc
	workers sync.WaitGroup // running requests' goroutines, and idle ones
	// idle hands an app's first request to a worker goroutine parked
	// after its last one, if there is one: a goroutine whose stack has
	// grown for the handlers already, rather than a new one per request
	// (runtime.newstack and copystack were a tenth of oauth.token.get's
	// CPU).
	idle chan *request

	mu      sync.Mutex
	running bool                 // Run has started: workers may start
	nidle   int                  // workers parked on idle, or about to be
	stopped bool                 // Run's context has ended: requests are dropped
	apps    map[string]*appQueue // per app with a request running or waiting
	queued  int                  // requests pushed and not yet answered or started
	bytes   int                  // their sizes
}

// appQueue is one app's requests: the one running (if active) and those
// waiting behind it, in arrival order.
type appQueue struct {
	active  bool
	waiting []*request
}

// newQueue returns a queue that holds at most maxQueued requests waiting,
// maxPerApp of one app and maxBytes of their sizes, and answers each
// within replyWithin of its arrival, from do or busy.
func newQueue(maxQueued, maxPerApp, maxBytes int, replyWithin time.Duration, do func(context.Context, *request) func(), busy func(*request, string)) *queue {
	q := &queue{
		maxQueued: maxQueued, maxPerApp: maxPerApp, maxBytes: maxBytes, replyWithin: replyWithin,
		do: do, busy: busy,
		idle: make(chan *request),
		apps: make(map[string]*appQueue),
	}
	q.life, q.stop = context.WithCancel(context.Background())
	return q
}

// push starts r and returns at once: on a goroutine of its own when no
// other request of its app is running (and Run has started), else queued
// behind them. A request that does not fit is answered busy at once; one
// pushed after Run's context ended is dropped.
//
// The request starts from here, on the bus's read goroutine, rather than
// through a dispatcher goroutine: each hand-over between goroutines costs
// a wake-up of another thread, and at concurrency 1 those were most of the
// daemon's time on a request (BenchmarkFrame).
func (q *queue) push(r *request) {
	r.deadline = r.arrived.Add(q.replyWithin)
	q.mu.Lock()
	if q.stopped {
		// Dropped at shutdown; the asker times out as it would with the
		// daemon stopped.
		q.mu.Unlock()
		return
	}
	aq := q.apps[r.key]
	// The bounds hold for a request that would start at once too, so that
	// they mean what they say also for a lone request.
	fits := q.queued < q.maxQueued && (aq == nil || len(aq.waiting) < q.maxPerApp) && q.bytes+r.size <= q.maxBytes
	start := false
	switch {
	case !fits:
	case aq == nil && q.running:
		q.apps[r.key] = &appQueue{active: true}
		q.workers.Add(1)
		start = true
	default:
		if aq == nil {
			aq = &appQueue{}
			q.apps[r.key] = aq
		}
		aq.waiting = append(aq.waiting, r)
		q.queued++
		q.bytes += r.size
		r.expire = time.AfterFunc(time.Until(r.deadline), func() { q.expired(r) })
	}
	q.mu.Unlock()
	switch {
	case !fits:
		q.busy(r, "request refused, queue full")
	case start:
		select {
		case q.idle <- r:
			q.workers.Done() // the parked worker is counted already
		default:
			go q.work(r)
		}
	}
}

// quiet reports whether a request of the app with the key may be answered
// outside the queue now without passing another of its app's: Run has
// started and not ended, and none of the app's requests runs or waits.
// The bus's read loop alone pushes requests, so, asked from there, the
// answer holds until it pushes the next.
func (q *queue) quiet(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running && !q.stopped && q.apps[key] == nil
}

// maxIdle bounds the workers parked for the next request: as many as the
// requests that usually run at once on a device.
const maxIdle = 4

// work runs r, then the requests of its app that queued meanwhile, one at
// a time. When the app's queue is empty it parks for another app's first
// request, unless maxIdle workers are parked already or Run is ending.
func (q *queue) work(r *request) {
	defer q.workers.Done()
	for {
		for r != nil {
			q.process(r)
			q.mu.Lock()
			r = q.next(r.key)
			q.mu.Unlock()
		}
		q.mu.Lock()
		park := !q.stopped && q.nidle < maxIdle
		if park {
			q.nidle++
		}
		q.mu.Unlock()
		if !park {
			return
		}
		select {
		case r = <-q.idle:
		case <-q.life.Done():
		}
		q.mu.Lock()
		q.nidle--
		q.mu.Unlock()
		if r == nil {
			return
		}
	}
}

// next takes the next waiting request of the app off its queue, or, when
// none waits, ends the app's turn and returns nil. q.mu is held.
func (q *queue) next(key string) *request {
	aq := q.apps[key]
	if len(aq.waiting) == 0 || q.stopped {
		delete(q.apps, key)
		return nil
	}
	r := aq.waiting[0]
	aq.waiting[0] = nil
	aq.waiting = aq.waiting[1:]
	q.dequeued(r)
	return r
}

// dequeued takes r off the queue's counts: it started, or was answered.
// q.mu is held.
func (q *queue) dequeued(r *request) {
	q.queued--
	q.bytes -= r.size
	if r.expire != nil {
		// Stopped under q.mu: a timer that fired already finds r gone.
		r.expire.Stop()
	}
}

// expired answers r busy if it is still waiting at its deadline.
func (q *queue) expired(r *request) {
	q.mu.Lock()
	aq := q.apps[r.key]
	i := -1
	if aq != nil {
		i = slices.Index(aq.waiting, r)
	}
	if i >= 0 {
		aq.waiting = slices.Delete(aq.waiting, i, i+1)
		q.dequeued(r)
		if !aq.active && len(aq.waiting) == 0 {
			delete(q.apps, r.key)
		}
	}
	q.mu.Unlock()
	if i >= 0 {
		q.busy(r, waitedTooLong)
	}
}

const waitedTooLong = "request refused, waited too long behind this app's others"

// Run lets requests run until ctx ends (those pushed before it wait for
// it), then drops the ones still waiting, cancels the running ones'
// context and waits for them to finish.
func (q *queue) Run(ctx context.Context) error {
	q.mu.Lock()
	q.running = true
	for key, aq := range q.apps {
		if !aq.active && !q.stopped {
			aq.active = true
			q.workers.Add(1)
			go q.work(q.next(key))
		}
	}
	q.mu.Unlock()

	<-ctx.Done()
	q.mu.Lock()
	q.stopped = true
	for _, aq := range q.apps {
		// Requests not yet started are dropped at shutdown; their
		// askers time out as they would with the daemon stopped.
		for _, r := range aq.waiting {
			q.dequeued(r)
		}
		aq.waiting = nil
	}
	q.mu.Unlock()
	q.stop()
	q.workers.Wait()
	return nil
}

// process runs one request and sends its one reply by the request's
// deadline. A request still running then is answered busy; it is waited
// for (its work, a refresh or an exchange, finishes and is stored) before
// the app's next request starts, and its reply is dropped.
//
// It runs on the worker's goroutine; the deadline's busy reply comes from
// the context's own timer, so a request costs no goroutine and no timer
// beyond those.
func (q *queue) process(r *request) {
	if !time.Now().Before(r.deadline) {
		q.busy(r, waitedTooLong)
		return
	}
	ctx, cancel := context.WithDeadline(q.life, r.deadline)
	defer cancel()
	var answered atomic.Bool
	busy := func() {
		if answered.CompareAndSwap(false, true) {
			q.busy(r, "request answered busy, it took too long")
		}
	}
	late := context.AfterFunc(ctx, func() {
		// At the deadline, not at shutdown: a request whose context is
		// cancelled returns soon, with its own reply.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			busy()
		}
	})
	send := q.do(ctx, r)
	late()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Past the deadline the answer is busy, whoever sends it: a
		// request that gave up at its deadline does not race the timer
		// with its own error.
		busy()
		return
	}
	if answered.CompareAndSwap(false, true) {
		send()
	}
}
