package oauth_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkLoadSchedule10k measures the start-up work of the refresh plan:
// reading 10,000 apps and tokens from bbolt and building the heap.
func BenchmarkLoadSchedule10k(b *testing.B) {
	db := storetest.Open(b)
	oauthtest.Seed(b, db, 10000, time.Now())
	e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.LoadSchedule(); err != nil {
			b.Fatal(err)
		}
	}
	if n := e.Scheduled(); n != 10000 {
		b.Fatalf("%d scheduled, want 10000", n)
	}
}
