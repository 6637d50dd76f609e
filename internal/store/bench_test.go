package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// BenchmarkPutToken measures one durable write: a bbolt transaction and its
// fsyncs on the disk under t.TempDir.
func BenchmarkPutToken(b *testing.B) {
	db := storetest.Open(b)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		b.Fatal(err)
	}
	tok := fullToken("access")
	for b.Loop() {
		if err := db.PutToken("skill_app", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToken measures one read: a read-only transaction and a JSON
// decode.
func BenchmarkToken(b *testing.B) {
	db := storetest.Open(b)
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		b.Fatal(err)
	}
	if err := db.PutToken("skill_app", fullToken("access")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.Token("skill_app"); err != nil {
			b.Fatal(err)
		}
	}
}

// seedApps stores n apps of skill "seed".
func seedApps(b *testing.B, db *store.DB, n int) {
	b.Helper()
	for i := range n {
		if err := db.PutApp(fullApp("seed", fmt.Sprintf("app%05d", i)), false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutAppParallel10k measures new apps written by 8 writers at
// once, as skills registering together at boot, beside 10,000 apps: every
// write durable when it returns. ns/op is the wall time per write over all
// writers, so 1e9/ns_op is the throughput.
func BenchmarkPutAppParallel10k(b *testing.B) {
	db := storetest.Open(b)
	seedApps(b, db, 10000)
	var n atomic.Int64
	b.SetParallelism(4) // 8 writers on this 2-core machine
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.PutApp(fullApp("new", fmt.Sprintf("app%d", n.Add(1))), false); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutApp10k is BenchmarkPutAppParallel10k with one writer: the
// latency of one durable write.
func BenchmarkPutApp10k(b *testing.B) {
	db := storetest.Open(b)
	seedApps(b, db, 10000)
	i := 0
	for b.Loop() {
		i++
		if err := db.PutApp(fullApp("new", fmt.Sprintf("app%d", i)), false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutFlow7k measures storing a pending login, evicting beyond 4
// per app, beside 7,000 pending logins of 1,000 other apps.
func BenchmarkPutFlow7k(b *testing.B) {
	db := storetest.Open(b)
	seedApps(b, db, 1000)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 7000 {
		f := fullFlow(fmt.Sprintf("seed-flow-%05d", i), fmt.Sprintf("seed_app%05d", i%1000), now)
		if err := db.PutFlow(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.PutApp(fullApp("skill", "app"), false); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		f := fullFlow(fmt.Sprintf("flow-%d", i), "skill_app", now.Add(time.Duration(i)*time.Second))
		if err := db.PutFlow(f, 4); err != nil {
			b.Fatal(err)
		}
	}
}
