//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mirror_test

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/mirror"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// entryOf is a token entry as a Python program writes it after refreshing:
// the provider's answer and expires_at, without the daemon's mark.
func entryOf(access, refresh string, expiresAt time.Time) map[string]any {
	return map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
		"expires_in": 3600, "expires_at": float64(expiresAt.UnixMicro()) / 1e6,
	}
}

// writeEntry sets one entry of the token file as another program does,
// leaving the others as they are.
func writeEntry(t *testing.T, f *mirror.Files, id string, entry map[string]any) {
	t.Helper()
	all := map[string]any{}
	if _, err := os.Stat(f.TokenFile()); err == nil {
		maps.Copy(all, readJSON(t, f.TokenFile()))
	}
	all[id] = entry
	release := holdLock(t, tokenLock(f))
	defer release()
	writePython(t, f.TokenFile(), all)
}

func accessTokenIn(t *testing.T, f *mirror.Files, id string) any {
	t.Helper()
	e, _ := readJSON(t, f.TokenFile())[id].(map[string]any)
	return e["access_token"]
}

// A token the daemon queued is not written over one that another program
// wrote into the file since the daemon's last write and that expires
// later: another refresher's newer token. One that expires sooner is
// replaced, and so is the daemon's own earlier entry, whatever its expiry
// (a clock set back).
func TestWriterKeepsNewerForeignToken(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	app := testApp("skill", "a")
	id := app.MungedID()
	put := func(access string, exp time.Time) <-chan struct{} {
		t.Helper()
		tok := testToken("a")
		tok.AccessToken, tok.Expiry = oauth.Secret(access), exp
		if err := w.PutToken(app, tok); err != nil {
			t.Fatal(err)
		}
		return w.TokenWritten(id)
	}
	flush := func() {
		t.Helper()
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	put("ours-1", expiry.Add(2*time.Hour))
	flush()
	put("ours-2", expiry)
	flush()
	if got := accessTokenIn(t, f, id); got != "ours-2" {
		t.Fatalf("file holds %v, want ours-2: the daemon's own entry is not another program's", got)
	}

	written := put("ours-3", expiry.Add(time.Hour))
	writeEntry(t, f, id, entryOf("theirs-newer", "their-refresh", expiry.Add(2*time.Hour)))
	flush()
	if got := accessTokenIn(t, f, id); got != "theirs-newer" {
		t.Errorf("file holds %v, want theirs-newer: an older token was written over a newer one", got)
	}
	if !isClosed(written) {
		t.Error("TokenWritten() still open, want closed: the file holds a newer token")
	}

	put("ours-4", expiry.Add(4*time.Hour))
	writeEntry(t, f, id, entryOf("theirs-older", "their-refresh-2", expiry.Add(3*time.Hour)))
	flush()
	if got := accessTokenIn(t, f, id); got != "ours-4" {
		t.Errorf("file holds %v, want ours-4, newer than the one another program wrote", got)
	}
}

// changes records what a Writer reports of the token file.
type changes struct {
	mu  sync.Mutex
	got map[string][]*oauth.Token
	c   chan struct{}
}

func (c *changes) record(id string, tok *oauth.Token) {
	c.mu.Lock()
	if c.got == nil {
		c.got = map[string][]*oauth.Token{}
	}
	c.got[id] = append(c.got[id], tok)
	c.mu.Unlock()
	select {
	case c.c <- struct{}{}:
	default:
	}
}

func (c *changes) of(id string) []*oauth.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*oauth.Token(nil), c.got[id]...)
}

// await waits until id has been reported n times.
func (c *changes) await(t *testing.T, id string, n int) []*oauth.Token {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for len(c.of(id)) < n {
		select {
		case <-c.c:
		case <-timeout:
			t.Fatalf("%s reported %d times in 10s, want %d", id, len(c.of(id)), n)
		}
	}
	return c.of(id)
}

// A Writer watching the token file tells of each token entry of its own
// that another program changed, as that program left it, once; not of
// its own writes, of other programs' entries, or of another database's.
func TestWriterReportsForeignTokens(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	f.Owner = "db-1"
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	ch := &changes{c: make(chan struct{}, 1)}
	w.Changed = ch.record
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()

	ours := testApp("skill", "a")
	id := ours.MungedID()
	other := testApp("skill", "b")
	for _, a := range []*oauth.App{ours, other} {
		if err := w.PutToken(a, testToken(a.AppID)); err != nil {
			t.Fatal(err)
		}
	}
	// The Writer's own write: nothing to tell.
	select {
	case <-w.TokenWritten(id):
	case <-time.After(10 * time.Second):
		t.Fatal("the token was not written")
	}
	select {
	case <-w.Watching():
	case <-time.After(10 * time.Second):
		t.Fatal("the token file is not watched")
	}

	writeEntry(t, f, "ocp_spotify", entryOf("not-ours", "not-ours", expiry))
	writeEntry(t, f, other.MungedID(), map[string]any{"access_token": "another daemon's", mirror.MarkKey: "db-2"})
	writeEntry(t, f, id, entryOf("theirs", "their-refresh", expiry.Add(time.Hour)))
	got := ch.await(t, id, 1)[0]
	if got.AccessToken != "theirs" || got.RefreshToken != "their-refresh" || !got.Expiry.Equal(expiry.Add(time.Hour)) || got.TokenType != "Bearer" {
		t.Errorf("reported %+v, want the other program's token", got)
	}
	if !got.Obtained.Equal(expiry) {
		t.Errorf("reported obtained %v, want expires_at less expires_in, %v", got.Obtained, expiry)
	}
	if _, ok := got.Raw[mirror.MarkKey]; ok {
		t.Error("reported Raw carries the mark")
	}

	// A write that leaves the entry as it was tells nothing more; the next
	// change does.
	writeEntry(t, f, "ocp_spotify", entryOf("not-ours-2", "not-ours-2", expiry))
	writeEntry(t, f, id, entryOf("theirs-2", "their-refresh-2", expiry.Add(2*time.Hour)))
	if got := ch.await(t, id, 2); got[1].AccessToken != "theirs-2" || len(got) != 2 {
		t.Errorf("reported %d tokens, the last %v; want theirs, then theirs-2", len(got), got[len(got)-1].AccessToken)
	}
	for _, other := range []string{"ocp_spotify", other.MungedID()} {
		if got := ch.of(other); len(got) != 0 {
			t.Errorf("%s reported %d times, want never", other, len(got))
		}
	}
}

// A program that rewrites the file in place, as json_database does, within
// the file system's clock tick and to the same size, leaves the file's
// stamp as this Writer last wrote it: the change is told all the same.
func TestWriterReportsInPlaceWrite(t *testing.T) {
	t.Parallel()
	f := newFiles(t)
	w := mirror.NewWriter(f, slog.New(slog.DiscardHandler))
	ch := &changes{c: make(chan struct{}, 1)}
	w.Changed = ch.record
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	app := testApp("skill", "a")
	if err := w.PutToken(app, testToken("a")); err != nil {
		t.Fatal(err)
	}
	for _, ready := range []<-chan struct{}{w.TokenWritten(app.MungedID()), w.Watching()} {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("the token was not written, or the file not watched")
		}
	}
	fi, err := os.Stat(f.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, tokenLock(f))
	changed := bytes.Replace(b, []byte(`"access-a"`), []byte(`"access-b"`), 1)
	if err := os.WriteFile(f.TokenFile(), changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f.TokenFile(), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	release()
	if got := ch.await(t, app.MungedID(), 1)[0]; got.AccessToken != "access-b" {
		t.Errorf("reported %q, want access-b", got.AccessToken.Reveal())
	}
}
