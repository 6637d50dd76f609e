//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TokenWritten's channel closes once the file holds the token, not
// before; a token replaced in the queue closes with the one that replaced
// it; a write kept out by another process's lock leaves it open. (A
// registration queued with them holds them back Delay.)
func TestTokenWritten(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		app := testApp("skill", "a")
		if !isClosed(w.TokenWritten(app.MungedID())) {
			t.Error("TokenWritten() with nothing queued is open, want closed")
		}

		if err := w.PutApp(app, redirectURI); err != nil {
			t.Fatal(err)
		}
		first := testToken("a")
		if err := w.PutToken(app, first); err != nil {
			t.Fatal(err)
		}
		firstWritten := w.TokenWritten(app.MungedID())
		second := testToken("a")
		second.AccessToken = "access-a-2"
		if err := w.PutToken(app, second); err != nil {
			t.Fatal(err)
		}
		secondWritten := w.TokenWritten(app.MungedID())
		synctest.Wait()
		if isClosed(firstWritten) || isClosed(secondWritten) {
			t.Fatal("TokenWritten() closed before the file was written")
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if !isClosed(firstWritten) || !isClosed(secondWritten) {
			t.Fatal("TokenWritten() still open after the file was written")
		}
		if got := readJSON(t, f.TokenFile())["skill_a"].(map[string]any)["access_token"]; got != "access-a-2" {
			t.Errorf("file holds %v, want the second token", got)
		}

		time.Sleep(mirror.DefaultDelay) // the last write is Delay ago
		release := holdLock(t, tokenLock(f))
		third := testToken("a")
		third.AccessToken = "access-a-3"
		if err := w.PutToken(app, third); err != nil {
			t.Fatal(err)
		}
		thirdWritten := w.TokenWritten(app.MungedID())
		time.Sleep(mirror.DefaultDelay + time.Second)
		synctest.Wait()
		if isClosed(thirdWritten) {
			t.Error("TokenWritten() closed while another process held the lock")
		}
		release()
		time.Sleep(mirror.DefaultTimeout + mirror.DefaultRetry)
		synctest.Wait()
		if !isClosed(thirdWritten) {
			t.Error("TokenWritten() still open once the lock was released and the file written")
		}
	})
}

// Files writes before PutToken returns: its TokenWritten is closed.
func TestFilesTokenWritten(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	var m oauth.Mirror = f
	if !isClosed(m.TokenWritten("skill_a")) {
		t.Error("Files.TokenWritten() is open, want closed")
	}
}

// A token alone is written at once, not Delay later: its event waits for
// the file. One that follows a write closer than Delay waits for the rest
// of it, so that a burst of refreshes makes few writes.
func TestWriterTokenAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		w, stop := startWriter(t, f)
		defer stop()
		app := testApp("skill", "a")
		if err := w.PutToken(app, testToken("a")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !isClosed(w.TokenWritten(app.MungedID())) {
			t.Fatal("a token alone waited for others to join it")
		}
		tok := testToken("a")
		tok.AccessToken = "access-a-2"
		if err := w.PutToken(app, tok); err != nil {
			t.Fatal(err)
		}
		written := w.TokenWritten(app.MungedID())
		synctest.Wait()
		if isClosed(written) {
			t.Fatal("a token written right after another, want it to wait out Delay since the last write")
		}
		time.Sleep(mirror.DefaultDelay)
		synctest.Wait()
		if !isClosed(written) || w.FileWrites() != 2 {
			t.Errorf("after Delay: written %v, %d writes; want written, 2 writes", isClosed(written), w.FileWrites())
		}
	})
}
