//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// testAppB is testApp("skill", appID) with its scope set, which changes its
// record.
func testAppB(appID, scope string) *oauth.App {
	app := testApp("skill", appID)
	app.Scope = scope
	return app
}

// BenchmarkWriterFlush10k measures one coalesced write of the apps file
// holding 10,000 apps, 100 of them changed: the read, the merge, the
// encoding and the fsync'd replacement.
func BenchmarkWriterFlush10k(b *testing.B) {
	f := mirror.New(b.TempDir())
	f.LockDir = b.TempDir()
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	for i := range 10000 {
		if err := w.PutApp(testAppB(fmt.Sprintf("a%05d", i), "v0"), "http://192.0.2.1:36536/cb"); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	round := 0
	for b.Loop() {
		round++
		for i := range 100 {
			if err := w.PutApp(testAppB(fmt.Sprintf("a%05d", i), fmt.Sprint("v", round)), "http://192.0.2.1:36536/cb"); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterPutUnchanged measures what a request pays for an app
// registered again unchanged: queueing a check, no I/O.
func BenchmarkWriterPutUnchanged(b *testing.B) {
	f := mirror.New(b.TempDir())
	f.LockDir = b.TempDir()
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	app := testAppB("a", "v0")
	if err := w.PutApp(app, "http://192.0.2.1:36536/cb"); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := w.PutApp(app, "http://192.0.2.1:36536/cb"); err != nil {
			b.Fatal(err)
		}
	}
}
