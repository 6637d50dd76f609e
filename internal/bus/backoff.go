package bus

import "time"

// backoff computes reconnect delays: capped exponential with full jitter
// above a floor. The n-th delay after a reset (n from 0) is uniform in
// [min, min(max, min·2ⁿ)], so the first retry comes after exactly min and a
// bus that stays down is polled at most every max. It is not safe for
// concurrent use; Client.Run owns one.
type backoff struct {
	min, max time.Duration
	// rand returns a uniform value in [0, n); math/rand/v2's Int64N.
	rand    func(n int64) int64
	attempt int
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	ceil := b.min
	for i := 0; i < b.attempt && ceil < b.max; i++ {
		if ceil > b.max/2 {
			ceil = b.max
			break
		}
		ceil *= 2
	}
	ceil = min(ceil, b.max)
	if ceil < b.max {
		b.attempt++ // once capped, counting further only risks overflow
	}
	if ceil <= b.min {
		return b.min
	}
	return b.min + time.Duration(b.rand(int64(ceil-b.min)+1))
}

// reset starts the sequence again, after a connection that succeeded.
func (b *backoff) reset() { b.attempt = 0 }
