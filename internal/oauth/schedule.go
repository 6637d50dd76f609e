package oauth

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Run runs the engine's timed jobs until ctx ends: the refresh of every
// stored token that has a refresh token, before it expires, the polls of
// pending device logins, and the warnings that a login ends soon. The plan
// is rebuilt from the store when Run starts, so a token that expired while
// the daemon was down is refreshed at once and a device login that has not
// expired goes on polling. One timer serves the whole plan, whatever its
// size: an idle daemon sleeps until the next job is due, or clockCheck has
// passed, to see a jump of the clock (see Monotonic), which moves the plans
// made before it. At most MaxRefreshes refreshes and MaxPolls device polls
// run at once, each bound apart, so that polls of a provider that never
// answers do not hold back the refreshes of other apps.
//
// When ctx ends, Run waits for the jobs in flight, its own and those bus
// requests started, so that a rotated refresh token reaches the store
// before the caller closes it.
func (e *Engine) Run(ctx context.Context) error {
	defer e.announcer.wait() // after the last refresh: its event
	defer e.flights.drain()
	// The clocks' first readings, before anything is planned by them.
	seen := e.jumps()
	if err := e.loadSchedule(); err != nil {
		return err
	}
	// Reading every app and token leaves garbage the size of the store;
	// hand it back to the OS now rather than over the next minutes, so an
	// idle daemon on a small board is small and quiet.
	debug.FreeOSMemory()
	lanes := []lane{
		{jobRefresh, make(chan struct{}, max(e.MaxRefreshes, 1))},
		{jobPoll, make(chan struct{}, max(e.MaxPolls, 1))},
		{jobWarn, make(chan struct{}, 1)},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Pending logins that expired are swept on the same timer: their
	// verifiers are secrets with no use left. The sweep is timed by the
	// time that passes, whatever the clock does.
	nextSweep := e.monotonic()
	for {
		if j := e.jumps(); j != seen {
			// What was planned as "in so long" moves with the clock; the
			// tokens this run stored follow it, and are planned again.
			e.logger.Warn("the clock jumped: times read before move with it", "by", j-seen)
			e.sched.shift(j-seen, e.plannedFromClock)
			seen = j
			wg.Go(e.followJump)
		}
		now := e.Now()
		if mono := e.monotonic(); !mono.Before(nextSweep) {
			e.sweepFlows(now)
			nextSweep = mono.Add(max(e.FlowTTL, time.Minute))
		}
		// Woken at least every clockCheck, to see a jump of the clock.
		wake := now.Add(min(nextSweep.Sub(e.monotonic()), e.checkClock))
		for _, l := range lanes {
			wake = e.startDue(ctx, &wg, l, now, wake)
		}
		timer.Reset(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-e.sched.wake:
		}
		timer.Stop()
	}
}

// lane is one kind of job and the slots its jobs run in.
type lane struct {
	kind  jobKind
	slots chan struct{}
}

// startDue starts l's jobs that are due at now, in wg, while l has a slot
// free, and returns when the loop must wake next for l: wake, or its next
// job's time if l has a slot for it and it comes sooner.
func (e *Engine) startDue(ctx context.Context, wg *sync.WaitGroup, l lane, now, wake time.Time) time.Time {
	for len(l.slots) < cap(l.slots) {
		j, ok := e.sched.popDue(l.kind, now)
		if !ok {
			break
		}
		l.slots <- struct{}{}
		wg.Go(func() {
			defer func() {
				<-l.slots
				e.sched.poke()
			}()
			if next, again := e.runJob(ctx, j); again {
				e.sched.planIfAbsent(j, next)
			}
		})
	}
	if next, ok := e.sched.next(l.kind); ok && len(l.slots) < cap(l.slots) && next.Before(wake) {
		return next
	}
	return wake
}

// runJob runs one due job and returns when it wants to run again. A plan
// made for the job while it ran (a login or refresh that stored a token)
// wins over what it returns.
func (e *Engine) runJob(ctx context.Context, j job) (next time.Time, again bool) {
	switch j.kind {
	case jobRefresh:
		return e.scheduledRefresh(ctx, j.id)
	case jobPoll:
		return e.pollDevice(ctx, j.id)
	case jobWarn:
		return e.warnReauth(j.id)
	}
	return time.Time{}, false
}

// sweepFlows deletes the pending logins that expired: those this run opened
// by the clock they were opened by (see flowExpires).
func (e *Engine) sweepFlows(now time.Time) {
	e.sweepOwnFlows(now)
	n, err := e.store.DeleteExpiredFlows(now.Add(-e.flowLag()))
	if err != nil {
		e.logger.Warn("expired logins not deleted", "err", err)
		return
	}
	if n > 0 {
		e.logger.Debug("expired logins deleted", "count", n)
	}
}

// loadSchedule plans a refresh for every stored token that can be
// refreshed, and a poll for every pending device login, and reports the
// logins the last run left half-way.
func (e *Engine) loadSchedule() error {
	apps, err := e.store.Apps()
	if err != nil {
		return err
	}
	tokens, err := e.store.Tokens()
	if err != nil {
		return err
	}
	plan := make(map[job]time.Time, len(tokens))
	now := e.Now()
	warnings := 0
	for _, app := range apps {
		if app.NeedsReauth {
			continue
		}
		tok := tokens[app.MungedID()]
		if due, ok := e.scheduleDue(app, tok); ok {
			plan[job{jobRefresh, app.MungedID()}] = due
		}
		if due, ok := e.warnDue(app, tok, now); ok {
			plan[job{jobWarn, app.MungedID()}] = due
			warnings++
		}
	}
	refreshes := len(plan) - warnings
	flows, err := e.store.Flows()
	if err != nil {
		return err
	}
	for _, f := range flows {
		if f.Kind == FlowDevice {
			// An expired one is reported by its first poll.
			plan[job{jobPoll, f.ID}] = now.Add(pollInterval(f))
		}
	}
	e.sched.merge(plan)
	e.reportInterrupted(flows)
	e.logger.Info("schedule built", "apps", len(apps), "tokens", len(tokens), "refreshes", refreshes, "device_polls", len(plan)-refreshes-warnings, "reauth_warnings", warnings)
	return nil
}

// refreshDue is when a token is refreshed: RefreshMargin before it expires,
// but not before half its lifetime has passed, so that a short-lived token
// is not refreshed in a loop. ok is false for a token that cannot be
// refreshed (no refresh token) or does not expire.
func (e *Engine) refreshDue(tok *Token) (due time.Time, ok bool) {
	if tok == nil || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		return time.Time{}, false
	}
	due = tok.Expiry.Add(-e.RefreshMargin)
	if half := tok.Obtained.Add(tok.Expiry.Sub(tok.Obtained) / 2); half.After(due) {
		due = half
	}
	return due, true
}

// scheduleDue is when the schedule refreshes the app's token: when it is
// due, but never sooner than MinRefreshGap after it was issued, whatever
// lifetime the provider gave it (a second; or, from an older version, one
// that overflowed into the past). Scheduled refreshes of an app are so at
// least MinRefreshGap apart; a skill's request (Token, Refresh) does not
// wait.
//
// Two things bring it forward. A provider that ends logins left unused
// (Microsoft, Google, Home Assistant) sees the app refreshed at least every
// quarter of that time, however long its access token lasts, and also
// without one that expires. And a login that ends is refreshed a
// RefreshMargin before its end, which a provider that rotates refresh
// tokens answers with a new one and a new end, and at its end, where the
// provider's refusal tells the skill then (oauth.reauth.required), not at
// the next expiry of a long-lived access token.
func (e *Engine) scheduleDue(app *App, tok *Token) (due time.Time, ok bool) {
	if tok == nil || tok.RefreshToken == "" {
		return time.Time{}, false
	}
	due, ok = e.refreshDue(tok)
	sooner := func(at time.Time) {
		if !ok || at.Before(due) {
			due, ok = at, true
		}
	}
	if p, known := app.knownProvider(); known && p.IdleLifetime > 0 {
		sooner(tok.Obtained.Add(p.IdleLifetime / 4))
	}
	if end, _ := e.loginEnd(app, tok); end.After(tok.Obtained) {
		at := end.Add(-e.RefreshMargin)
		if !at.After(tok.Obtained) {
			at = end // refreshed just before its end already
		}
		sooner(at)
	}
	if !ok {
		return due, false
	}
	if floor := tok.Obtained.Add(e.MinRefreshGap); floor.After(due) {
		due = floor
	}
	return due, true
}

// planRefresh puts the app's freshly stored token in the schedule: its
// refresh, and the warning that its login ends.
func (e *Engine) planRefresh(app *App, tok *Token) {
	id := app.MungedID()
	if due, ok := e.warnDue(app, tok, e.Now()); ok {
		e.sched.set(job{jobWarn, id}, due)
	} else {
		e.sched.remove(job{jobWarn, id})
	}
	if due, ok := e.scheduleDue(app, tok); ok {
		e.sched.set(job{jobRefresh, id}, due)
		return
	}
	e.sched.remove(job{jobRefresh, id})
}

// scheduledRefresh runs one due refresh. A passing fault is retried with
// capped, jittered backoff; a refusal takes the app out of the schedule
// (refreshFailed has marked it and told the user). A success has planned
// the next refresh where the token was stored.
func (e *Engine) scheduledRefresh(ctx context.Context, id string) (next time.Time, again bool) {
	// The token as the plan saw it; refreshNow skips the provider if a bus
	// request refreshed it meanwhile. An unsaved token is saved by refreshNow.
	seen, _ := e.storedToken(id)
	// Not cancelled with ctx: a refresh in flight finishes, so a rotated
	// refresh token is saved.
	tok, err := e.refreshShared(context.WithoutCancel(ctx), id, seen)
	switch code := ErrorCode(err); {
	case err == nil:
		app, err := e.app(id)
		if err != nil {
			return time.Time{}, false // unregistered meanwhile
		}
		return e.scheduleDue(app, tok)
	case code == CodeProviderUnavailable || code == CodeInternal:
		delay := max(e.sched.backoff(job{jobRefresh, id}, e.RetryMin, e.RetryMax), e.MinRefreshGap)
		e.logger.Info("refresh will be retried", "app", id, "in", delay)
		return e.Now().Add(delay), true
	default:
		e.logger.Info("refresh stopped", "app", id, "code", code)
		return time.Time{}, false
	}
}

// jobKind is what a timed job does.
type jobKind uint8

const (
	jobRefresh jobKind = iota + 1 // refresh the token of the app named by id
	jobPoll                       // poll the device login named by id (a flow id)
	jobWarn                       // tell the app named by id that its login ends soon
)

// job is one entry of the schedule.
type job struct {
	kind jobKind
	id   string
}

// schedule is the plan of timed jobs: a min-heap of due times per kind of
// job, one entry per job, and the count of consecutive passing faults per
// job for the backoff. It is safe for concurrent use.
type schedule struct {
	mu     sync.Mutex
	queues [jobWarn]dueHeap // by kind, jobRefresh first
	byJob  map[job]*dueEntry
	fails  map[job]int
	wake   chan struct{} // tells Run the plan changed
}

type dueEntry struct {
	job   job
	due   time.Time
	index int
}

func newSchedule() *schedule {
	return &schedule{byJob: make(map[job]*dueEntry), fails: make(map[job]int), wake: make(chan struct{}, 1)}
}

// queue is the heap of one kind of job; s.mu is held.
func (s *schedule) queue(k jobKind) *dueHeap { return &s.queues[k-1] }

func (s *schedule) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// merge adds a plan read from the store. A job planned meanwhile (a login
// or refresh that finished while the store was being read) keeps its newer
// plan.
func (s *schedule) merge(plan map[job]time.Time) {
	s.mu.Lock()
	var kinds [len(s.queues)]int
	for j := range plan {
		kinds[j.kind-1]++
	}
	for i, n := range kinds {
		s.queues[i] = slices.Grow(s.queues[i], n)
	}
	for j, due := range plan {
		if _, ok := s.byJob[j]; ok {
			continue
		}
		q := s.queue(j.kind)
		en := &dueEntry{job: j, due: due.Round(0), index: len(*q)}
		*q = append(*q, en)
		s.byJob[j] = en
	}
	for i := range s.queues {
		heap.Init(&s.queues[i])
	}
	s.mu.Unlock()
	s.poke()
}

// set plans j at due, forgetting past faults.
func (s *schedule) set(j job, due time.Time) {
	s.mu.Lock()
	delete(s.fails, j)
	s.plan(j, due)
	s.mu.Unlock()
	s.poke()
}

// planIfAbsent plans j at due unless it was planned meanwhile.
func (s *schedule) planIfAbsent(j job, due time.Time) {
	s.mu.Lock()
	if _, ok := s.byJob[j]; !ok {
		s.plan(j, due)
	}
	s.mu.Unlock()
	s.poke()
}

// plan puts j at due; s.mu is held. A due time is kept without its
// monotonic part, so that it is compared by the wall clock that shift
// moves it with.
func (s *schedule) plan(j job, due time.Time) {
	due = due.Round(0)
	if en, ok := s.byJob[j]; ok {
		en.due = due
		heap.Fix(s.queue(j.kind), en.index)
		return
	}
	en := &dueEntry{job: j, due: due}
	heap.Push(s.queue(j.kind), en)
	s.byJob[j] = en
}

// shift moves by d, as the clock jumped, the jobs planned as "in so long"
// (device polls, refreshes retried after a fault) and those planned from a
// time read off the clock before the jump (fromClock).
func (s *schedule) shift(d time.Duration, fromClock func(job) bool) {
	s.mu.Lock()
	for j, en := range s.byJob {
		if j.kind == jobPoll || (j.kind == jobRefresh && s.fails[j] > 0) || fromClock(j) {
			en.due = en.due.Add(d)
		}
	}
	for i := range s.queues {
		heap.Init(&s.queues[i])
	}
	s.mu.Unlock()
	s.poke()
}

// due reports when j is planned.
func (s *schedule) due(j job) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if en, ok := s.byJob[j]; ok {
		return en.due, true
	}
	return time.Time{}, false
}

func (s *schedule) remove(j job) {
	s.mu.Lock()
	if en, ok := s.byJob[j]; ok {
		heap.Remove(s.queue(j.kind), en.index)
		delete(s.byJob, j)
	}
	delete(s.fails, j)
	s.mu.Unlock()
}

// backoff counts a passing fault of j and returns the delay before it runs
// again: minDelay·2^(faults-1), capped at maxDelay, with ±20% jitter so that
// many apps of one provider spread out.
func (s *schedule) backoff(j job, minDelay, maxDelay time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[j]++
	return backoff(s.fails[j], minDelay, maxDelay)
}

// backoff is minDelay·2^(faults-1) capped at maxDelay, jittered by ±20%.
func backoff(faults int, minDelay, maxDelay time.Duration) time.Duration {
	d := minDelay
	for i := 1; i < faults && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// popDue takes the earliest entry of kind k if it is due by now.
func (s *schedule) popDue(k jobKind, now time.Time) (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue(k)
	if len(*q) == 0 || (*q)[0].due.After(now) {
		return job{}, false
	}
	en := heap.Pop(q).(*dueEntry)
	delete(s.byJob, en.job)
	return en.job, true
}

// next is when the earliest entry of kind k is due.
func (s *schedule) next(k jobKind) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue(k)
	if len(*q) == 0 {
		return time.Time{}, false
	}
	return (*q)[0].due, true
}

// len is the number of planned jobs.
func (s *schedule) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byJob)
}

type dueHeap []*dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	en := x.(*dueEntry)
	en.index = len(*h)
	*h = append(*h, en)
}
func (h *dueHeap) Pop() any {
	old := *h
	en := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	en.index = -1
	return en
}

// flights counts refreshes in flight so that Run can wait for them.
type flights struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n       int
	closing bool
}

// begin reports whether a refresh may start; false once the engine stops.
func (f *flights) begin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.n++
	return true
}

func (f *flights) end() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.cond != nil {
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// drain refuses new refreshes and waits for those in flight.
func (f *flights) drain() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	if f.cond == nil {
		f.cond = sync.NewCond(&f.mu)
	}
	for f.n > 0 {
		f.cond.Wait()
	}
}
