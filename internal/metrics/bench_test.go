package metrics_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/metrics"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkRequest is what metrics add to every bus request.
func BenchmarkRequest(b *testing.B) {
	m := metrics.New(api.RequestTypes(), func() (int, error) { return 0, nil }, discard)
	b.ReportAllocs()
	for b.Loop() {
		m.Request("oauth.token.get", metrics.OK, 400*time.Microsecond)
	}
}

// BenchmarkScrape is one GET /metrics, every request type seen once, with
// apps_needing_reauth read from a real store (sealed, as the daemon keeps
// it) of a few apps or of 10,000.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run("apps="+strconv.Itoa(n), func(b *testing.B) {
			db := storetest.Open(b)
			oauthtest.Seed(b, db, n, time.Now())
			e := oauth.NewEngine(db, nil, "http://192.0.2.1:36536", slog.New(slog.DiscardHandler))
			m := metrics.New(api.RequestTypes(), e.AppsNeedingReauth, discard)
			for _, typ := range api.RequestTypes() {
				m.Request(typ, metrics.OK, time.Millisecond)
			}
			h := m.Handler()
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
