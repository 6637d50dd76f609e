//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
)

func appsLock(f *mirror.Files) string { return filepath.Join(f.LockDir, "ovos_oauth_apps.json.lock") }

// startWriter runs a Writer of f until the test ends, in the test's bubble.
func startWriter(t *testing.T, f *mirror.Files) (w *mirror.Writer, stop func()) {
	t.Helper()
	w = mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
	return w, stop
}

// mtime is the file's modification time, zero when it is missing.
func mtime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// Many changes queued together make one write of each file, Delay after
// the first, and the calls return before it.
func TestWriterCoalesces(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		for i := range 100 {
			app := testApp("skill", fmt.Sprintf("a%03d", i))
			if err := w.PutApp(app, redirectURI); err != nil {
				t.Fatal(err)
			}
			if err := w.PutToken(app, testToken(app.AppID)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if _, err := os.Stat(f.AppsFile()); err == nil {
			t.Fatal("the apps file was written before Delay passed, want the changes to wait for others")
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if got := len(readJSON(t, f.AppsFile())); got != 100 {
			t.Errorf("%d apps in the file, want 100", got)
		}
		if got := len(readJSON(t, f.TokenFile())); got != 100 {
			t.Errorf("%d tokens in the file, want 100", got)
		}
		if got := w.FileWrites(); got != 2 {
			t.Errorf("%d file writes for 200 changes, want 2: one per file", got)
		}
	})
}

// An app registered again unchanged writes nothing and reads nothing; once
// another program dropped the file, the same call puts the entry back.
func TestWriterUnchangedWritesNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		app := testApp("skill", "a")
		if err := w.PutApp(app, redirectURI); err != nil {
			t.Fatal(err)
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		before, writes, reads := mtime(t, f.AppsFile()), w.FileWrites(), w.FileReads()
		if before.IsZero() {
			t.Fatal("the apps file was not written")
		}
		for range 10 {
			if err := w.PutApp(app, redirectURI); err != nil {
				t.Fatal(err)
			}
			time.Sleep(mirror.DefaultDelay)
			synctest.Wait()
		}
		if got := mtime(t, f.AppsFile()); !got.Equal(before) || w.FileWrites() != writes {
			t.Errorf("unchanged PutApp wrote the file: mtime %v -> %v, %d -> %d writes", before, got, writes, w.FileWrites())
		}
		if w.FileReads() != reads {
			t.Errorf("unchanged PutApp read the file %d times, want none: it did not change on disk", w.FileReads()-reads)
		}

		if err := os.Remove(f.AppsFile()); err != nil {
			t.Fatal(err)
		}
		if err := w.PutApp(app, redirectURI); err != nil {
			t.Fatal(err)
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if _, ok := readJSON(t, f.AppsFile())["skill_a"]; !ok {
			t.Error("the entry was not put back in the file another program removed")
		}
	})
}

// While another process holds the lock, calls return at once and their
// changes wait; the file is written as soon as the lock is released.
func TestWriterWaitsForLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		release := holdLock(t, tokenLock(f))
		for i := range 5 {
			app := testApp("skill", fmt.Sprintf("a%d", i))
			if err := w.PutToken(app, testToken(app.AppID)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		// 5 s: the writer waits for the lock, which Files.Timeout (10 s)
		// allows, and calls were not held up: this goroutine ran on.
		synctest.Wait()
		if _, err := os.Stat(f.TokenFile()); err == nil {
			t.Fatal("the token file was written while another process held its lock")
		}
		// The queued token is the one RefreshToken gives, lock or not.
		if rt, _, err := w.RefreshToken("skill_a4"); err != nil || rt != "refresh-a4" {
			t.Errorf("RefreshToken() while queued = %q, %v; want the queued token's", rt, err)
		}
		release()
		time.Sleep(10 * time.Millisecond) // the lock's poll
		synctest.Wait()
		if got := len(readJSON(t, f.TokenFile())); got != 5 {
			t.Errorf("%d tokens in the file after the lock was released, want 5", got)
		}
		if w.FileWrites() != 1 {
			t.Errorf("%d writes, want 1", w.FileWrites())
		}
	})
}

// A lock held longer than Files.Timeout fails the write, which is retried
// Retry later with what was queued since: nothing is lost.
func TestWriterRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		release := holdLock(t, appsLock(f))
		if err := w.PutApp(testApp("skill", "a"), redirectURI); err != nil {
			t.Fatal(err)
		}
		time.Sleep(mirror.DefaultDelay + mirror.DefaultTimeout + time.Millisecond)
		if err := w.PutApp(testApp("skill", "b"), redirectURI); err != nil {
			t.Fatal(err)
		}
		release()
		time.Sleep(mirror.DefaultRetry + mirror.DefaultDelay)
		synctest.Wait()
		if got := keys(readJSON(t, f.AppsFile())); fmt.Sprint(got) != "[skill_a skill_b]" {
			t.Errorf("apps in the file = %v, want both", got)
		}
	})
}

// Changes still queued when Run ends are written before it returns, and
// Flush writes those made after.
func TestWriterFlushesOnShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		if err := w.PutApp(testApp("skill", "a"), redirectURI); err != nil {
			t.Fatal(err)
		}
		stop() // before Delay
		if _, ok := readJSON(t, f.AppsFile())["skill_a"]; !ok {
			t.Error("a change queued at shutdown was not written by Run")
		}
		if err := w.PutToken(testApp("skill", "a"), testToken("a")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, ok := readJSON(t, f.TokenFile())["skill_a"]; !ok {
			t.Error("Flush did not write the change made after Run")
		}
	})
}

// RefreshToken reads through the queue: a queued token, or a queued
// removal, wins over the older token in the file.
func TestWriterRefreshTokenReadsQueue(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	app := testApp("skill", "a")
	old := testToken("old")
	if err := f.PutToken(app, old); err != nil {
		t.Fatal(err)
	}
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler)) // not running: all stays queued
	if rt, _, err := w.RefreshToken("skill_a"); err != nil || rt != "refresh-old" {
		t.Fatalf("RefreshToken() = %q, %v; want the file's", rt, err)
	}
	fresh := testToken("new")
	fresh.Expiry = expiry.Add(time.Hour)
	if err := w.PutToken(app, fresh); err != nil {
		t.Fatal(err)
	}
	rt, exp, err := w.RefreshToken("skill_a")
	if err != nil || rt != "refresh-new" || !exp.Equal(fresh.Expiry) {
		t.Errorf("RefreshToken() = %q, %v, %v; want the queued token's refresh-new, %v", rt, exp, err, fresh.Expiry)
	}
	if err := w.DeleteToken("skill_a"); err != nil {
		t.Fatal(err)
	}
	if rt, _, err := w.RefreshToken("skill_a"); err != nil || rt != "" {
		t.Errorf("RefreshToken() with its removal queued = %q, %v; want none", rt, err)
	}
}

// countHandler counts the records logged at Warn or above.
type countHandler struct {
	slog.Handler
	mu    sync.Mutex
	warns int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		h.mu.Unlock()
	}
	return nil
}

func (h *countHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns
}

// A file that stays unwritable (another program's data, not JSON) is
// retried ever less often, so the log is not flooded; once it is fixed the
// queued change gets in.
func TestWriterBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		if err := os.MkdirAll(f.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.AppsFile(), []byte("not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		h := &countHandler{Handler: slog.DiscardHandler}
		w := mirror.NewWriter(f, slog.New(h))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		if err := w.PutApp(testApp("skill", "a"), redirectURI); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := h.count(); n < 2 || n > 12 {
			t.Errorf("%d warnings in 5 minutes of failed writes, want a few (backing off to one a minute)", n)
		}
		if err := os.WriteFile(f.AppsFile(), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + mirror.DefaultDelay)
		synctest.Wait()
		if _, ok := readJSON(t, f.AppsFile())["skill_a"]; !ok {
			t.Error("the queued change was lost while the file was unwritable")
		}
		cancel()
		<-done
	})
}

// While another process holds the token file's lock, and this Writer waits
// for it too, RefreshToken gives up after ReadTimeout: a refresh is not
// held up for the lock's whole Timeout, nor behind the Writer's wait.
func TestWriterRefreshTokenBoundedWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		release := holdLock(t, tokenLock(f))
		if err := w.PutToken(testApp("skill", "a"), testToken("a")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(mirror.DefaultDelay + time.Millisecond) // the Writer now waits for the lock
		start := time.Now()
		_, _, err := w.RefreshToken("skill_b")
		if waited := time.Since(start); err == nil || waited > mirror.ReadTimeout+100*time.Millisecond {
			t.Errorf("RefreshToken() = %v after %v with the lock held, want an error after at most %v", err, waited, mirror.ReadTimeout)
		}
		release()
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if rt, _, err := w.RefreshToken("skill_a"); err != nil || rt != "refresh-a" {
			t.Errorf("RefreshToken() once written = %q, %v", rt, err)
		}
	})
}

// After a restart, the apps all registering again unchanged cost one read
// of the file, the first, and no write: what it holds is known from then on.
func TestWriterRestartReadsOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		first := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
		for i := range 50 {
			if err := first.PutApp(testApp("skill", fmt.Sprintf("a%02d", i)), redirectURI); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.Flush(); err != nil {
			t.Fatal(err)
		}

		w, stop := startWriter(t, f) // the daemon started again
		defer stop()
		if err := w.PutApp(testApp("skill", "a00"), redirectURI); err != nil {
			t.Fatal(err)
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		for i := range 50 {
			if err := w.PutApp(testApp("skill", fmt.Sprintf("a%02d", i)), redirectURI); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // spread over several of the Writer's rounds
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if w.FileReads() != 1 || w.FileWrites() != 0 {
			t.Errorf("50 unchanged apps after a restart: %d reads and %d writes, want 1 and 0", w.FileReads(), w.FileWrites())
		}
	})
}

// After writing a large file, the Writer returns the memory of its writes
// to the OS once Settle has passed with no further write, and only then:
// once per burst, not once per write. A burst of small files never does.
func TestWriterTrimsAfterLargeWrites(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		above int64
		want  int32
	}{
		{"large", 1, 1},
		{"small", 1 << 40, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFiles(t)
				w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
				var trims atomic.Int32
				w.SetTrim(tt.above, func() { trims.Add(1) })
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- w.Run(ctx) }()
				defer func() {
					cancel()
					if err := <-done; err != nil {
						t.Errorf("Run() = %v", err)
					}
				}()
				// Three writes, each less than Settle after the one before.
				for i := range 3 {
					if err := w.PutApp(testApp("skill", fmt.Sprintf("a%d", i)), redirectURI); err != nil {
						t.Fatal(err)
					}
					time.Sleep(mirror.DefaultDelay)
					synctest.Wait()
					if got := w.FileWrites(); got != i+1 {
						t.Fatalf("%d file writes, want %d", got, i+1)
					}
					time.Sleep(mirror.DefaultSettle / 2)
					synctest.Wait()
					if got := trims.Load(); got != 0 {
						t.Fatalf("memory returned %d times while writes kept coming, want none until they settle", got)
					}
				}
				time.Sleep(mirror.DefaultSettle / 2)
				synctest.Wait()
				if got := trims.Load(); got != tt.want {
					t.Errorf("memory returned %d times once the writes settled, want %d", got, tt.want)
				}
				time.Sleep(10 * mirror.DefaultSettle)
				synctest.Wait()
				if got := trims.Load(); got != tt.want {
					t.Errorf("memory returned %d times after a long idle, want %d: once per burst", got, tt.want)
				}
			})
		})
	}
}

// TestWriterFileDroppedRightAfterWrite: another program removes the file
// the moment the Writer has put it in place. The Writer must not take the
// missing file for the one it wrote: the next unchanged PutApp puts the
// entry back. Not parallel: SetAfterWrite is the package's.
func TestWriterFileDroppedRightAfterWrite(t *testing.T) {
	f := newFiles(t)
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	drop := true
	mirror.SetAfterWrite(func(path string) {
		if drop && path == f.AppsFile() {
			drop = false
			os.Remove(path)
		}
	})
	t.Cleanup(func() { mirror.SetAfterWrite(nil) })
	app := testApp("skill", "app")
	for range 2 {
		if err := w.PutApp(app, redirectURI); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readJSON(t, f.AppsFile()); got[app.MungedID()] == nil {
		t.Errorf("apps file = %v after the second PutApp, want the app back", got)
	}
}
