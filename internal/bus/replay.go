package bus

import "time"

// How long and for how many frames a Client remembers the nonces of the
// encrypted frames it has opened (see replayGuard). The window outlasts a
// pending login (10 minutes by default), which replayed oauth.get frames
// can evict, several times over. The count caps the memory a flood of
// frames can take, at most 2*replayLimit nonces (about 2.5 MB), while an
// hour of an ordinary bus's traffic is a few thousand.
const (
	replayWindow = time.Hour
	replayLimit  = 32768
)

// replayGuard remembers the nonces of recent encrypted frames, so that a
// frame captured on the bus and sent again as it was is dropped: AES-GCM
// proves who sealed a frame, not that it is new, and an OVOS message has no
// time stamp or counter to tell.
//
// A nonce is remembered until window has passed or limit newer nonces
// have come, whichever is first, and possibly longer; after that, the same
// frame is taken as new again. Memory stays at most 2*limit nonces however
// many frames come. The nonces are kept in two generations: new ones go
// into cur, which becomes prev once it is window old or holds limit
// nonces, and the old prev is dropped whole, which frees its memory without
// a clock per nonce.
//
// Only nonces of frames that authenticate are recorded, so without the key
// no one can fill it. It is not safe for concurrent use.
type replayGuard struct {
	window time.Duration
	limit  int

	cur, prev map[[nonceSize]byte]struct{}
	curStart  time.Time // when cur took its first nonce
}

// fresh reports whether nonce is new, recording it at now if it is.
func (g *replayGuard) fresh(nonce [nonceSize]byte, now time.Time) bool {
	if g.has(nonce) {
		return false
	}
	if g.cur != nil && (len(g.cur) >= g.limit || now.Sub(g.curStart) >= g.window) {
		g.prev, g.cur = g.cur, nil
	}
	if g.cur == nil {
		g.cur, g.curStart = make(map[[nonceSize]byte]struct{}), now
	}
	g.cur[nonce] = struct{}{}
	return true
}

// has reports whether g remembers nonce.
func (g *replayGuard) has(nonce [nonceSize]byte) bool {
	_, inCur := g.cur[nonce]
	_, inPrev := g.prev[nonce]
	return inCur || inPrev
}

// len is how many nonces g holds.
func (g *replayGuard) len() int { return len(g.cur) + len(g.prev) }
