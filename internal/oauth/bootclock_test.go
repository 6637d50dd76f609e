package oauth_test

import (
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestBootClock: the boot clock never goes back, and moves at least as far
// as the time that passes (it also counts time suspended).
func TestBootClock(t *testing.T) {
	t.Parallel()
	b0 := oauth.BootClock()
	m0 := time.Now()
	b := b0
	for range 10000 {
		next := oauth.BootClock()
		if next.Before(b) {
			t.Fatalf("BootClock() went back from %v to %v", b, next)
		}
		b = next
	}
	passed := time.Since(m0)
	if booted := oauth.BootClock().Sub(b0); booted < passed || booted > passed+time.Minute {
		t.Errorf("BootClock() moved %v while %v passed", booted, passed)
	}
}
