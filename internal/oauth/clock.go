package oauth

import (
	"maps"
	"sync"
	"time"
)

// A Raspberry Pi has no real-time clock: after a power cut it boots with the
// time it saved last (fake-hwclock), and the clock jumps, often by days,
// when NTP answers. The engine tells such a jump of Now from time passing by
// Monotonic, and moves with the clock every time it read off Now before the
// jump, in this run: a pending login is not ended early, nor kept late; a
// token is taken for valid while it is, and for expired once it is; a
// planned refresh or device poll happens when it is due in the time that
// passed. Times stored by an earlier run, or by another program, are taken
// as they are: the clock they were read off was right then, as a Pi's is
// once NTP has set it.

// jumpThreshold is the least change of the wall clock against the time that
// passed that is a jump: NTP slews the clock by far less than that.
const jumpThreshold = 5 * time.Second

// clockCheck is how often Run compares the clocks when nothing else wakes
// it, so that it sees a jump, and plans made before it move, within that:
// a token stored by an earlier run whose refresh the clock, set right,
// shows due at once.
const clockCheck = 30 * time.Second

// clockWatch follows the jumps of the engine's wall clock, and the frame of
// the times the engine read off it in this run: how far the clock had
// jumped when each was read. It is safe for concurrent use.
type clockWatch struct {
	mu      sync.Mutex
	started bool
	wall0   time.Time     // Now at the first reading, without a monotonic part
	mono0   time.Time     // Monotonic then
	jumped  time.Duration // the jumps seen so far, summed

	// flows are this run's pending logins, by id: the jumps when each was
	// opened. An entry goes at the sweep after its login has ended.
	flows map[string]time.Duration
	// tokens are the tokens this run stored, by munged id.
	tokens map[string]tokenMark
}

// tokenMark is the frame of a token this run stored.
type tokenMark struct {
	obtained time.Time     // the token's Obtained as stored: which token it is
	frame    time.Duration // the jumps when its times were read
	floating timeFields    // its times taken as they are: carried from an earlier run's token
}

// timeFields names a token's times.
type timeFields uint8

const (
	issuedTimes timeFields = 1 << iota // Obtained and Expiry
	loginTime                          // LoginAt
	refreshEnd                         // RefreshExpiry
	warnedTime                         // ReauthWarned
	allTimes    = issuedTimes | loginTime | refreshEnd | warnedTime
)

// shift returns a copy of tok with its times but those in f moved by d.
func (f timeFields) shift(tok *Token, d time.Duration) *Token {
	c := *tok
	move := func(t *time.Time, field timeFields) {
		if f&field == 0 && !t.IsZero() {
			*t = t.Add(d)
		}
	}
	move(&c.Obtained, issuedTimes)
	move(&c.Expiry, issuedTimes)
	move(&c.LoginAt, loginTime)
	move(&c.RefreshExpiry, refreshEnd)
	move(&c.ReauthWarned, warnedTime)
	return &c
}

// monotonic is the reading of Monotonic, or of Now without one.
func (e *Engine) monotonic() time.Time {
	if e.Monotonic != nil {
		return e.Monotonic()
	}
	return e.Now()
}

// jumps is how far the wall clock has jumped since the engine first read
// it, all jumps summed: how far it moved beyond the time that passed. The
// first call takes the clocks' readings the others compare with.
func (e *Engine) jumps() time.Duration {
	c := &e.clock
	// Round(0) drops time.Now's monotonic part, by which Go would compare.
	wall, mono := e.Now().Round(0), e.monotonic()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.wall0, c.mono0, c.started = wall, mono, true
		return 0
	}
	drift := wall.Sub(c.wall0) - mono.Sub(c.mono0)
	if d := drift - c.jumped; d >= jumpThreshold || d <= -jumpThreshold {
		c.jumped = drift
	}
	return c.jumped
}

// flowOpened notes a pending login this run opened, and the frame of its
// times.
func (e *Engine) flowOpened(id string) {
	j := e.jumps()
	e.clock.mu.Lock()
	if e.clock.flows == nil {
		e.clock.flows = make(map[string]time.Duration)
	}
	e.clock.flows[id] = j
	e.clock.mu.Unlock()
}

// flowExpires is when a pending login ends, by the clock as it is now: a
// login this run opened before a jump ends that much later, or earlier.
func (e *Engine) flowExpires(f *Flow) time.Time {
	e.clock.mu.Lock()
	opened, ok := e.clock.flows[f.ID]
	e.clock.mu.Unlock()
	if !ok {
		return f.Expires
	}
	return f.Expires.Add(e.jumps() - opened)
}

// flowLag is how far the clock jumped ahead since this run opened the
// earliest of its pending logins: the sweep deletes only what expired that
// long ago, so as to end none of them early.
func (e *Engine) flowLag() time.Duration {
	j := e.jumps()
	e.clock.mu.Lock()
	defer e.clock.mu.Unlock()
	var lag time.Duration
	for _, opened := range e.clock.flows {
		lag = max(lag, j-opened)
	}
	return lag
}

// sweepOwnFlows deletes the pending logins of this run that ended by the
// clock they were opened by but not by the stored time (the clock went
// back since), and forgets those that are gone. Device logins and those
// being exchanged are ended by their poll and their exchange.
func (e *Engine) sweepOwnFlows(now time.Time) {
	e.clock.mu.Lock()
	flows := maps.Clone(e.clock.flows)
	e.clock.mu.Unlock()
	for id := range flows {
		f, err := e.store.Flow(id)
		switch {
		case IsNotFound(err):
		case err != nil:
			continue
		case now.Before(e.flowExpires(f)):
			continue
		case f.Kind != FlowDevice && f.Spent.IsZero():
			if err := e.store.DeleteFlow(id); err != nil && !IsNotFound(err) {
				e.logger.Warn("expired login not deleted", "flow", FlowTag(id), "err", err)
				continue
			}
		default:
			continue
		}
		e.clock.mu.Lock()
		delete(e.clock.flows, id)
		e.clock.mu.Unlock()
	}
}

// tokenStored notes the frame of a token keep stored. A login's times were
// all read now; a refresh carries the login time, the last warning and
// (unless the answer gave a new one) the refresh token's end from the token
// it replaced, in that token's frame or taken as they are.
func (e *Engine) tokenStored(id string, tok *Token, how string) {
	j := e.jumps()
	e.clock.mu.Lock()
	defer e.clock.mu.Unlock()
	var floating timeFields
	if how == "refresh" {
		carried := loginTime | warnedTime
		if _, fresh := tok.Raw["refresh_token_expires_in"]; !fresh {
			carried |= refreshEnd
		}
		before := allTimes
		if m, ok := e.clock.tokens[id]; ok {
			before = m.floating
		}
		floating = carried & before
	}
	e.markLocked(id, tokenMark{tok.Obtained.Round(0), j, floating})
}

// markLocked sets a token's mark; e.clock.mu is held.
func (e *Engine) markLocked(id string, m tokenMark) {
	if e.clock.tokens == nil {
		e.clock.tokens = make(map[string]tokenMark)
	}
	e.clock.tokens[id] = m
}

// markOf is the mark of tok, as stored, if this run stored it.
func (e *Engine) markOf(id string, tok *Token) (tokenMark, bool) {
	e.clock.mu.Lock()
	m, ok := e.clock.tokens[id]
	e.clock.mu.Unlock()
	return m, ok && m.obtained.Equal(tok.Obtained)
}

// at is tok, as stored with the mark m, in the frame of jumps j.
func (m tokenMark) at(tok *Token, j time.Duration) *Token {
	if d := j - m.frame; d != 0 {
		return m.floating.shift(tok, d)
	}
	return tok
}

// inFrame is tok, as stored, with the times this run read before the clock
// last jumped moved with it: by the jumps seen so far, which Run looks for
// every clockCheck, so that handing out a token reads no clock.
func (e *Engine) inFrame(id string, tok *Token) *Token {
	m, ok := e.markOf(id, tok)
	if !ok {
		return tok
	}
	e.clock.mu.Lock()
	j := e.clock.jumped
	e.clock.mu.Unlock()
	return m.at(tok, j)
}

// tokenRewritten notes the frame j of a token the engine stored again, all
// its times but floating in that frame.
func (e *Engine) tokenRewritten(id string, tok *Token, j time.Duration, floating timeFields) {
	e.clock.mu.Lock()
	e.markLocked(id, tokenMark{tok.Obtained.Round(0), j, floating})
	e.clock.mu.Unlock()
}

// plannedFromClock reports whether a job was planned from the times of a
// token this run read off the clock; followJump plans it again exactly.
func (e *Engine) plannedFromClock(j job) bool {
	if j.kind != jobRefresh && j.kind != jobWarn {
		return false
	}
	e.clock.mu.Lock()
	m, ok := e.clock.tokens[j.id]
	e.clock.mu.Unlock()
	return ok && m.floating&issuedTimes == 0
}

// followJump stores the tokens this run stored before the clock jumped in
// the clock's new frame, so that the next run reads them right too, and
// plans them again.
func (e *Engine) followJump() {
	e.clock.mu.Lock()
	ids := make([]string, 0, len(e.clock.tokens))
	for id := range e.clock.tokens {
		ids = append(ids, id)
	}
	e.clock.mu.Unlock()
	for _, id := range ids {
		e.followJumpOf(id)
	}
}

func (e *Engine) followJumpOf(id string) {
	unlock := e.locks.Lock(id)
	defer unlock()
	app, err := e.app(id)
	if err != nil {
		return
	}
	stored, err := e.rawToken(id)
	if err != nil {
		return
	}
	j := e.jumps()
	m, ok := e.markOf(id, stored)
	if !ok || m.frame == j {
		return
	}
	tok := m.at(stored, j)
	if err := e.store.PutToken(id, tok); err != nil {
		// Read in the new frame all the same (inFrame) while this runs.
		e.logger.Warn("token not saved in the clock's new time", "app", id, "err", err)
		return
	}
	e.tokenRewritten(id, tok, j, m.floating)
	e.mirror("token", id, func(m Mirror) error { return m.PutToken(app, tok) })
	if !app.NeedsReauth {
		e.planRefresh(app, tok)
	}
}
