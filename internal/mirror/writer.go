package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Default timings of a Writer.
const (
	DefaultDelay  = 100 * time.Millisecond
	DefaultRetry  = time.Second
	DefaultSettle = 2 * time.Second
)

// trimAbove is the size of a written file from which the Writer hands the
// memory of its writes back to the OS once they have settled: about 2,000
// apps' records.
const trimAbove = 1 << 20

// ReadTimeout bounds how long RefreshToken waits for another process's
// lock on the token file: a refresh does not wait longer for a token that
// another program may have rotated.
const ReadTimeout = time.Second

// maxRetry bounds the wait after consecutive failed writes.
const maxRetry = time.Minute

var _ oauth.Mirror = (*Writer)(nil)

// Writer is an oauth.Mirror that writes Files behind its callers: a change
// is queued and the call returns at once, and Run writes the queue to the
// files, never holding up the request that made the change.
//
// Changes are coalesced: all the changes to a file queued by the time Run
// writes it make one read-modify-write of it, under json_database's lock,
// and the file is written only when its content changes. A change that
// leaves an entry as this Writer last wrote or read it (an app registered
// again, unchanged, as skills do on every oauth.ping) costs no read of the
// file unless the file changed on disk since (its identity, size or
// modification time): then it is read and the entry put back if another
// program dropped or changed it.
//
// Bound: a change is in the file Delay after it was queued, plus the time of
// the write in progress and its own (a few tens of milliseconds for 10,000
// apps). Token changes alone do not wait for others to join them unless the
// last write was less than Delay ago: a token's event waits for the file.
// While another process holds the file's lock, the write waits for
// it and is done as soon as it is released, or at most Retry after that when
// the lock was held longer than Files.Timeout (Retry doubles, up to a
// minute, while writes keep failing); meanwhile calls still return at once
// and their changes join the queue. Nothing is lost while the process runs:
// a failed write is retried with the changes queued since.
// Flush writes what is queued on shutdown.
//
// Memory: a write reads the file whole and writes it back entry by entry.
// After a write of a large file, once Settle has passed with no further
// write, the Writer hands the memory back to the OS (debug.FreeOSMemory, a
// garbage collection of the small heap that is left), once per burst.
//
// RefreshToken and Token answer from the queue first: the token the engine
// last stored is the answer until it is in the file, never an older one
// still there. TokenWritten tells when it is.
//
// A token entry that another program changed since this Writer last wrote
// or read it is not written over with an older token (one expiring
// sooner): that program refreshed it after the daemon did.
//
// The exported fields are options, set by NewWriter and changeable before
// Run. A Writer is safe for concurrent use.
type Writer struct {
	// Delay is how long a change waits for others to join it. Default
	// DefaultDelay.
	Delay time.Duration
	// Retry is how long a failed write waits before it is tried again,
	// doubling with each further failure in a row up to a minute. Default
	// DefaultRetry.
	Retry time.Duration
	// Settle is how long the Writer waits after writing a large file
	// (1 MiB and more) for no further write before it returns the memory
	// those writes used to the OS: a burst of registrations leaves garbage
	// several times the file's size, which the Go runtime would otherwise
	// keep for minutes at the size of the burst's heap. Default
	// DefaultSettle.
	Settle time.Duration

	// Changed, if set, is told of each token entry of this database that
	// another program changed in the token file (see Run).
	Changed func(mungedID string, tok *oauth.Token)

	// trim returns memory to the OS; trimAbove is the file size that calls
	// for it. Tests change them.
	trim      func()
	trimAbove int64

	files  *Files
	logger *slog.Logger
	wake   chan struct{} // cap 1: changes are queued
	wrote  chan struct{} // cap 1: a file was written
	// foreign holds the changes other programs made to token entries
	// that Changed is still to be told of; noted is poked when one is
	// added.
	foreign []foreignChange
	noted   chan struct{} // cap 1
	// watching is closed once the token file is watched.
	watching chan struct{}
	tokens   queue
	apps     queue

	writing sync.Mutex // one write of the queues at a time
	mu      sync.Mutex
	read    int  // file reads, for tests
	written int  // file writes, for tests
	large   bool // a file of trimAbove or more was written since Run last looked
}

// queue is the changes not yet in one file, with what is known of it.
type queue struct {
	name   string
	fileMu *sync.Mutex // the Files mutex of the file

	mu      sync.Mutex
	seq     uint64
	pending map[string]change
	known   map[string][sha256.Size]byte // hash of each entry as last written or read
	seen    stamp                        // the file as last written or read
	primed  bool                         // known holds every entry of the first read
	// foreign holds the hash of each entry another program changed, as
	// Changed was last told of it.
	foreign map[string][sha256.Size]byte
	// keepTheirs, if set, reports whether an entry another program changed
	// since this Writer last wrote or read it stays rather than take the
	// queued value.
	keepTheirs func(theirs, ours json.RawMessage) bool
}

// change is one entry's queued change.
type change struct {
	value json.RawMessage // nil: delete the entry
	// check: the value is the one last written or read; the file is read
	// only if it changed on disk since.
	check bool
	seq   uint64
	// written are closed once the file holds value: the waiters of this
	// change and of those it replaced.
	written []chan struct{}
}

// NewWriter returns a Writer of files, logging failed writes to logger.
func NewWriter(files *Files, logger *slog.Logger) *Writer {
	return &Writer{
		Delay:     DefaultDelay,
		Retry:     DefaultRetry,
		Settle:    DefaultSettle,
		trim:      debug.FreeOSMemory,
		trimAbove: trimAbove,
		files:     files,
		logger:    logger,
		wake:      make(chan struct{}, 1),
		wrote:     make(chan struct{}, 1),
		noted:     make(chan struct{}, 1),
		watching:  make(chan struct{}),
		tokens:    queue{name: tokensName, fileMu: &files.tokensMu, keepTheirs: newerToken},
		apps:      queue{name: appsName, fileMu: &files.appsMu},
	}
}

// PutApp queues app's record for the apps file. It does not keep app.
func (w *Writer) PutApp(app *oauth.App, redirectURI string) error {
	value, err := marshalValue(appRecordOf(app, redirectURI, w.files.Owner))
	if err != nil {
		return err
	}
	w.apps.put(app.MungedID(), value)
	w.poke()
	return nil
}

// PutToken queues tok, refresh token included, for the token file. It
// does not keep app or tok.
func (w *Writer) PutToken(app *oauth.App, tok *oauth.Token) error {
	value, err := marshalValue(tokenRecordOf(tok, w.files.Owner))
	if err != nil {
		return err
	}
	w.tokens.put(app.MungedID(), value)
	w.poke()
	return nil
}

// DeleteToken queues the removal of the token of the app with the munged
// id.
func (w *Writer) DeleteToken(mungedID string) error {
	w.tokens.put(mungedID, nil)
	w.poke()
	return nil
}

// DeleteApp queues the removal of the app's record and its token.
func (w *Writer) DeleteApp(mungedID string) error {
	w.tokens.put(mungedID, nil)
	w.apps.put(mungedID, nil)
	w.poke()
	return nil
}

// TokenWritten returns a channel closed once the token file holds the
// app's queued token, or what replaced it in the queue since; closed
// already when nothing of the app's is queued for the token file. A write
// that fails leaves it open until a later one succeeds.
func (w *Writer) TokenWritten(mungedID string) <-chan struct{} {
	return w.tokens.wait(mungedID)
}

// Token returns the app's queued token when there is one (nil when its
// removal is queued), else the one in the token file (see Files.Token). It
// waits for the file's lock as RefreshToken does.
func (w *Writer) Token(mungedID string) (*oauth.Token, error) {
	w.tokens.mu.Lock()
	c, queued := w.tokens.pending[mungedID]
	w.tokens.mu.Unlock()
	if !queued || c.check {
		raw, err := w.files.readEntry(mungedID, min(w.files.timeout(), ReadTimeout))
		if raw == nil || err != nil {
			return nil, err
		}
		return tokenOf(raw), nil
	}
	if c.value == nil {
		return nil, nil
	}
	return tokenOf(c.value), nil
}

// RefreshToken returns the refresh token of the app's queued token when
// there is one ("" when its removal is queued), else the one in the token
// file (see Files.RefreshToken). It reads the file under json_database's
// lock but waits at most ReadTimeout for it, and not for this Writer's own
// write in progress (which replaces the file whole, so it is never seen
// half-done).
func (w *Writer) RefreshToken(mungedID string) (oauth.Secret, time.Time, error) {
	w.tokens.mu.Lock()
	c, queued := w.tokens.pending[mungedID]
	w.tokens.mu.Unlock()
	if !queued || c.check { // a check holds what the file held: read the file, which may be newer
		return w.files.readRefreshToken(mungedID, min(w.files.timeout(), ReadTimeout))
	}
	if c.value == nil {
		return "", time.Time{}, nil
	}
	rt, exp := refreshTokenOf(c.value)
	return rt, exp, nil
}

func (w *Writer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes queued changes until ctx ends, then writes what is queued and
// returns nil. Failed writes are logged and retried.
//
// With Changed set, Run also watches the token file (inotify, through
// fsnotify) and tells Changed, from a goroutine of its own and one entry
// at a time, of each token entry that another program changed: one this
// Writer wrote or read, now holding another value that does not carry the
// mark of another database. Python programs refresh tokens themselves and
// write them back (ovos_utils' refresh helper, a Spotify plugin with
// spotipy); the daemon takes a newer one rather than keep handing out and
// refreshing the token it rotated away. Run returns once Changed has
// returned.
func (w *Writer) Run(ctx context.Context) error {
	if w.Changed != nil {
		watchCtx, stop := context.WithCancel(ctx)
		var watcher sync.WaitGroup
		watcher.Go(func() { w.watch(watchCtx) })
		defer watcher.Wait()
		defer stop()
	}
	w.writeLoop(ctx)
	return nil
}

// writeLoop writes queued changes until ctx ends, then writes what is
// queued.
func (w *Writer) writeLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// settle fires Settle after the last write that followed a large
	// one: the burst is over, its garbage can go back.
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	trimDue := false
	failures := 0
	var lastWrite time.Time
	for {
		select {
		case <-ctx.Done():
			w.flushLogged()
			return
		case <-settle.C:
			if trimDue {
				trimDue = false
				w.trim()
			}
			continue
		case <-w.wake:
		}
		if wait := w.batchWait(lastWrite); wait > 0 && !sleep(ctx, timer, wait) {
			w.flushLogged()
			return
		}
		err := w.Flush()
		lastWrite = time.Now()
		if w.tookLarge() {
			trimDue = true
		}
		if trimDue {
			settle.Reset(w.settle())
		}
		if err == nil {
			if failures > 0 {
				w.logger.Info("ovos_utils mirror written again")
			}
			failures = 0
			continue
		}
		// A file that stays unwritable (not JSON, a lock never released)
		// is retried ever less often, and logged as often.
		failures++
		wait := min(w.retry()<<min(failures-1, 16), maxRetry)
		w.logger.Warn("ovos_utils mirror not written, will retry", "in", wait, "err", err)
		if !sleep(ctx, timer, wait) {
			w.flushLogged()
			return
		}
		w.poke()
	}
}

// sleep waits d on timer, which no one else uses, and reports whether it
// did so before ctx ended.
func sleep(ctx context.Context, timer *time.Timer, d time.Duration) bool {
	timer.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// batchWait is how long a write waits, once a change is queued, for the
// changes that come with it to join it: a burst of registrations (every
// skill answers oauth.ping) makes one write. Tokens alone go at once,
// unless the last write, at lastWrite, was less than Delay ago: a token's
// event waits for the file, and a program reading the file meanwhile finds
// the refresh token it replaced.
func (w *Writer) batchWait(lastWrite time.Time) time.Duration {
	if !w.apps.queued() {
		return time.Until(lastWrite.Add(w.delay()))
	}
	return w.delay()
}

func (w *Writer) flushLogged() {
	if err := w.Flush(); err != nil {
		w.logger.Warn("ovos_utils mirror not written", "err", err)
	}
}

// Flush writes the queued changes now, each file once, and returns when
// they are in the files or a write failed (the changes stay queued). The
// daemon calls it on shutdown, after the last change.
func (w *Writer) Flush() error {
	w.writing.Lock()
	defer w.writing.Unlock()
	return errors.Join(w.flush(&w.tokens), w.flush(&w.apps))
}

func (w *Writer) flush(q *queue) error {
	batch, seen := q.snapshot()
	if len(batch) == 0 {
		return nil
	}
	checkOnly := true
	for _, c := range batch {
		checkOnly = checkOnly && c.check
	}
	if checkOnly && seen.equal(stampOf(filepath.Join(w.files.Dir, q.name))) {
		q.done(batch, seen, nil)
		return nil
	}
	var kept map[string]bool
	now, wrote, err := w.files.updateStamp(q.name, q.fileMu, func(entries map[string]json.RawMessage) bool {
		// Taken again under the lock: what was queued while the writer
		// waited for another process joins this write.
		batch, _ = q.snapshot()
		q.prime(entries)
		if q == &w.tokens {
			w.noteForeign(entries)
		}
		var changed bool
		changed, kept = q.apply(batch, entries)
		return changed
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.read++
	if wrote {
		w.written++
		w.large = w.large || (now.fi != nil && now.fi.Size() >= w.trimAbove)
	}
	w.mu.Unlock()
	if wrote {
		select {
		case w.wrote <- struct{}{}:
		default:
		}
	}
	for id := range kept {
		w.logger.Info("ovos_utils mirror keeps the newer token another program wrote", "app", id)
	}
	q.done(batch, now, kept)
	return nil
}

// apply makes the changes of batch to entries, the file's, and reports
// whether it changed them, and which entries it kept as they were, theirs
// being newer than ours (keepsTheirs).
func (q *queue) apply(batch map[string]change, entries map[string]json.RawMessage) (changed bool, kept map[string]bool) {
	for id, c := range batch {
		old, ok := entries[id]
		switch {
		case c.value == nil && ok:
			delete(entries, id)
			changed = true
		case c.value != nil && (!ok || !sameValue(old, c.value)):
			if ok && q.keepsTheirs(id, old, c.value) {
				if kept == nil {
					kept = make(map[string]bool)
				}
				kept[id] = true
				continue
			}
			entries[id] = c.value
			changed = true
		}
	}
	return changed, kept
}

// keepsTheirs reports whether the entry theirs in the file stays rather
// than take ours: another program changed it since this Writer last wrote
// or read it, and keepTheirs prefers it.
func (q *queue) keepsTheirs(id string, theirs, ours json.RawMessage) bool {
	if q.keepTheirs == nil {
		return false
	}
	h, ok := hashOf(theirs)
	q.mu.Lock()
	known, isKnown := q.known[id]
	q.mu.Unlock()
	if ok && isKnown && h == known {
		return false // as this Writer left it
	}
	return q.keepTheirs(theirs, ours)
}

// prime records, the first time the file is read, each entry it holds as
// known: after a restart, the apps registering again unchanged are then
// checks that cost no read, not changes that each cost one.
func (q *queue) prime(entries map[string]json.RawMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.primed {
		return
	}
	q.primed = true
	if q.known == nil {
		q.known = make(map[string][sha256.Size]byte, len(entries))
	}
	var buf bytes.Buffer
	for id, raw := range entries {
		buf.Reset()
		if json.Compact(&buf, raw) == nil {
			q.known[id] = sha256.Sum256(buf.Bytes())
		}
	}
}

// queued reports whether changes are queued.
func (q *queue) queued() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) > 0
}

// snapshot copies the queue and the stamp of the file as last seen.
func (q *queue) snapshot() (map[string]change, stamp) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return maps.Clone(q.pending), q.seen
}

// put queues value (nil: a removal) for id.
func (q *queue) put(id string, value json.RawMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = make(map[string]change)
		q.known = make(map[string][sha256.Size]byte)
	}
	q.seq++
	c := change{value: value, seq: q.seq}
	prev, queued := q.pending[id]
	if !queued || prev.check {
		if h, ok := q.known[id]; ok && value != nil && h == sha256.Sum256(value) {
			c.check = true
		}
	}
	// Whoever waited for the value replaced waits for this one: the file
	// will never hold the other.
	c.written = prev.written
	q.pending[id] = c
}

// wait returns a channel closed once id's queued change, or one that
// replaces it, is done; a closed one when none is queued.
func (q *queue) wait(id string) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, queued := q.pending[id]
	if !queued {
		return closedChan
	}
	ch := make(chan struct{})
	c.written = append(c.written, ch)
	q.pending[id] = c
	return ch
}

// closedChan is a channel that is closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// done takes batch, now in the file, off the queue, except the entries
// queued again since, and records the file's stamp. The entries of kept
// stayed as another program wrote them: they are off the queue too, but
// this Writer still knows its own last value.
func (q *queue) done(batch map[string]change, now stamp, kept map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, c := range batch {
		// The queue's own copy: waiters may have joined it since batch
		// was taken, for the same value.
		if cur := q.pending[id]; cur.seq == c.seq {
			for _, ch := range cur.written {
				close(ch)
			}
			delete(q.pending, id)
		}
		if kept[id] {
			continue
		}
		delete(q.foreign, id)
		if c.value == nil {
			delete(q.known, id)
		} else {
			q.known[id] = sha256.Sum256(c.value)
		}
	}
	q.seen = now
}

// refreshTokenOf reads refresh_token and expires_at from a token entry.
func refreshTokenOf(raw json.RawMessage) (oauth.Secret, time.Time) {
	var entry struct {
		RefreshToken any `json:"refresh_token"`
		ExpiresAt    any `json:"expires_at"`
	}
	var rt oauth.Secret
	var exp time.Time
	if json.Unmarshal(raw, &entry) == nil {
		if s, ok := entry.RefreshToken.(string); ok {
			rt = oauth.Secret(s)
		}
		exp, _ = unixTime(entry.ExpiresAt)
	}
	return rt, exp
}

// tookLarge reports whether a large file was written since the last call.
func (w *Writer) tookLarge() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	large := w.large
	w.large = false
	return large
}

func (w *Writer) settle() time.Duration {
	if w.Settle <= 0 {
		return DefaultSettle
	}
	return w.Settle
}

func (w *Writer) delay() time.Duration {
	if w.Delay <= 0 {
		return DefaultDelay
	}
	return w.Delay
}

func (w *Writer) retry() time.Duration {
	if w.Retry <= 0 {
		return DefaultRetry
	}
	return w.Retry
}
