package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// fileEvents records each token event with the access token that the
// mirror's token file held for the app when the event came.
type fileEvents struct {
	files *mirror.Files

	mu  sync.Mutex
	got []fileEvent
}

type fileEvent struct{ kind, token, file string }

func (e *fileEvents) record(kind string, a *oauth.App, tok *oauth.Token) {
	entries, _ := e.files.Tokens()
	var entry struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(entries[a.MungedID()], &entry)
	e.mu.Lock()
	e.got = append(e.got, fileEvent{kind, tok.AccessToken.Reveal(), entry.AccessToken})
	e.mu.Unlock()
}

func (e *fileEvents) TokenIssued(a *oauth.App, tok *oauth.Token)    { e.record("issued", a, tok) }
func (e *fileEvents) TokenRefreshed(a *oauth.App, tok *oauth.Token) { e.record("refreshed", a, tok) }
func (e *fileEvents) LoginFailed(*oauth.App, *oauth.Error)          {}
func (e *fileEvents) ReauthRequired(*oauth.App, string)             {}
func (e *fileEvents) ReauthUpcoming(*oauth.App, time.Time, string)  {}

func (e *fileEvents) snapshot() []fileEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]fileEvent(nil), e.got...)
}

// await polls until n events have come, and returns them.
func (e *fileEvents) await(t *testing.T, n int) []fileEvent {
	t.Helper()
	var got []fileEvent
	polltest.UntilNil(t, func() error {
		if got = e.snapshot(); len(got) < n {
			return fmt.Errorf("%d token events, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// mirrorFixture is a fixture whose engine mirrors into a Writer that the
// test flushes itself, so that nothing is in the file until it does.
func mirrorFixture(t *testing.T, logs *lockedBuffer) (*fixture, *mirror.Writer, *fileEvents) {
	t.Helper()
	f := newFixture(t)
	files := mirror.New(filepath.Join(t.TempDir(), "json_database"))
	files.LockDir = t.TempDir()
	w := mirror.NewWriter(files, slog.New(slog.DiscardHandler))
	ev := &fileEvents{files: files}
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	f.e = oauth.NewEngine(f.db, ev, "http://192.0.2.10:36536", slog.New(h))
	f.e.Now = f.clk.Now
	f.e.Mirror = w
	return f, w, ev
}

// TestTokenEventWaitsForMirror: the event of a login or a refresh goes out
// once the mirror's file holds its token, not before; several tokens kept
// before the file is written are announced in order once it holds the
// last.
func TestTokenEventWaitsForMirror(t *testing.T) {
	t.Parallel()
	f, w, ev := mirrorFixture(t, nil)
	f.loggedIn(t, "app")
	if got := ev.snapshot(); len(got) != 0 {
		t.Fatalf("events %+v before the mirror was written, want none yet", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := ev.await(t, 1)[0]; got.kind != "issued" || got.token != "AT-1" || got.file != "AT-1" {
		t.Errorf("login event = %+v, want AT-1 with the file holding it", got)
	}

	for _, at := range []string{"AT-2", "AT-3"} {
		f.te.set(jsonAnswer(200, `{"access_token":"`+at+`","token_type":"Bearer","expires_in":3600}`))
		if _, _, err := f.e.Refresh(context.Background(), "skill.test", "app"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ev.snapshot(); len(got) != 1 {
		t.Fatalf("events %+v before the mirror was written again, want the login's alone", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := ev.await(t, 3)[1:]
	// The file never held AT-2: AT-3 replaced it in the queue.
	want := []fileEvent{{"refreshed", "AT-2", "AT-3"}, {"refreshed", "AT-3", "AT-3"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("refresh events = %+v, want %+v", got, want)
	}
}

// TestTokenEventMirrorStuck: a mirror that cannot write holds an event back
// MirrorWait at most; it then goes out, with a warning in the log.
func TestTokenEventMirrorStuck(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	f, _, ev := mirrorFixture(t, logs)
	f.e.MirrorWait = 50 * time.Millisecond
	f.loggedIn(t, "app")
	if got := ev.await(t, 1)[0]; got.kind != "issued" || got.token != "AT-1" || got.file != "" {
		t.Errorf("event = %+v, want AT-1, the file holding none", got)
	}
	if !strings.Contains(logs.String(), "token announced before the ovos_utils mirror holds it") {
		t.Errorf("no warning in the log:\n%s", logs.String())
	}
}
