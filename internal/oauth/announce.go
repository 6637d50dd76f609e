package oauth

import (
	"sync"
	"time"
)

// mirrorToken hands a token just stored to the Mirror and returns a
// channel closed once the mirror holds it; nil, which announce takes as
// written, without a mirror or when the mirror refused it.
func (e *Engine) mirrorToken(app *App, tok *Token) <-chan struct{} {
	if e.Mirror == nil {
		return nil
	}
	id := app.MungedID()
	if err := e.Mirror.PutToken(app, tok); err != nil {
		e.logger.Warn("ovos_utils mirror not updated", "what", "token", "app", id, "err", err)
		return nil
	}
	return e.Mirror.TokenWritten(id)
}

// announce calls send, which tells Events of a token, once written is
// closed: a Python skill that reads ovos_utils' token file when it hears
// of a token finds that token there. It waits at most MirrorWait, as a
// mirror that cannot write (a full disk, a lock another program keeps)
// must not silence tokens; the event then goes out with a warning. The
// app's events go out in the order they were announced. It never blocks
// its caller, which holds the app's lock: when the token is not written
// yet, the event goes out from a goroutine of its own.
func (e *Engine) announce(id string, written <-chan struct{}, send func()) {
	e.announcer.add(id, written, e.MirrorWait, send, func(waited time.Duration) {
		e.logger.Warn("token announced before the ovos_utils mirror holds it", "app", id, "waited", waited)
	})
}

// announcer holds, per app, the token events waiting for the mirror.
type announcer struct {
	mu     sync.Mutex
	queues map[string][]announcement // by munged id, oldest first
	wg     sync.WaitGroup            // one goroutine per non-empty queue
}

type announcement struct {
	written <-chan struct{}
	queued  time.Time
	by      time.Time // when it goes out, written or not
	send    func()
	late    func(waited time.Duration)
}

func (a *announcer) add(id string, written <-chan struct{}, wait time.Duration, send func(), late func(time.Duration)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.queues[id]) == 0 && isClosed(written) {
		send() // Events must not block: safe under the lock
		return
	}
	now := time.Now()
	if a.queues == nil {
		a.queues = make(map[string][]announcement)
	}
	a.queues[id] = append(a.queues[id], announcement{written: written, queued: now, by: now.Add(wait), send: send, late: late})
	if len(a.queues[id]) == 1 {
		a.wg.Go(func() { a.drain(id) })
	}
}

// drain sends the app's queued events in turn until none is left.
func (a *announcer) drain(id string) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.mu.Lock()
		next := a.queues[id][0]
		a.mu.Unlock()
		if !isClosed(next.written) {
			timer.Reset(time.Until(next.by))
			select {
			case <-next.written:
			case <-timer.C:
				next.late(time.Since(next.queued))
			}
			timer.Stop()
		}
		next.send()
		a.mu.Lock()
		rest := a.queues[id][1:]
		if len(rest) == 0 {
			delete(a.queues, id)
			a.mu.Unlock()
			return
		}
		a.queues[id] = rest
		a.mu.Unlock()
	}
}

// wait returns once every queued event has gone out.
func (a *announcer) wait() { a.wg.Wait() }

// isClosed reports whether ch is nil or closed.
func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
