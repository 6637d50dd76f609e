package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Bounds of the times read from other programs' entries: beyond them,
// time.UnixMicro and time.Duration overflow.
const (
	maxUnixSeconds = 1e11 // the year 5138
	maxExpiresIn   = 1e9  // 31 years
)

// tokenOf reads a token entry as the daemon takes a token that another
// program wrote (ovos_utils' refresh helper, a Spotify plugin saving what
// spotipy refreshed): nil without an access token. Expiry is expires_at,
// Obtained that less expires_in; Raw is the other fields, without the mark.
func tokenOf(raw json.RawMessage) *oauth.Token {
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	at, _ := fields["access_token"].(string)
	if at == "" {
		return nil
	}
	tok := &oauth.Token{AccessToken: oauth.Secret(at)}
	if rt, ok := fields["refresh_token"].(string); ok {
		tok.RefreshToken = oauth.Secret(rt)
	}
	tok.TokenType, _ = fields["token_type"].(string)
	tok.Scope, _ = fields["scope"].(string)
	if exp, ok := unixTime(fields["expires_at"]); ok {
		tok.Expiry = exp
		if in, ok := fields["expires_in"].(float64); ok && in > 0 && in < maxExpiresIn {
			if d := time.Duration(in * float64(time.Second)); d > 0 {
				tok.Obtained = exp.Add(-d)
			}
		}
	}
	delete(fields, "access_token")
	delete(fields, "refresh_token")
	delete(fields, "expires_at") // Expiry is the truth
	delete(fields, MarkKey)
	tok.Raw = fields
	return tok
}

// unixTime reads Unix seconds, as Python's time.time() gives them or
// spotipy's int.
func unixTime(v any) (time.Time, bool) {
	secs, ok := v.(float64)
	if !ok || !(secs > 0 && secs < maxUnixSeconds) {
		return time.Time{}, false
	}
	return time.UnixMicro(int64(secs * 1e6)), true
}

// newerToken reports whether the token entry theirs, which another program
// wrote, holds a newer token than the entry ours: another access token,
// expiring later. A refresher obtains its token after it read the one it
// refreshed, so with the same lifetime the newer expires later; a token
// without an expiry is newer than none.
func newerToken(theirs, ours json.RawMessage) bool {
	t, o := tokenOf(theirs), tokenOf(ours)
	return t != nil && o != nil && !o.Expiry.IsZero() && t.AccessToken != o.AccessToken && t.Expiry.After(o.Expiry)
}

// hashOf is the hash of an entry's compact text, as known keeps it.
func hashOf(raw json.RawMessage) ([sha256.Size]byte, bool) {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(buf.Bytes()), true
}

// watch tells Changed of the token entries other programs change, until
// ctx ends. It watches the directory (programs replace the file, which a
// watch of the file would lose), waiting for the first write to make it
// when it is missing, and reads the file once the changes to it settle.
func (w *Writer) watch(ctx context.Context) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.logger.Warn("ovos_utils token file not watched: tokens other programs refresh are taken at the daemon's next refresh", "err", err)
		return
	}
	defer fw.Close()
	if !w.watchDir(ctx, fw) {
		return
	}
	// What the file holds now is what other programs changed since.
	w.readTokens(false, true)
	close(w.watching)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	armed := false
	// written: a program wrote into the file in place, as json_database
	// does; this Writer only ever renames a new file onto it.
	written := false
	arm := func() {
		if !armed {
			armed = true
			settle.Reset(w.delay())
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if ev.Name == w.files.TokenFile() {
				written = written || ev.Has(fsnotify.Write)
				arm()
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				written = true
				arm()
			} else {
				w.logger.Debug("ovos_utils token file watch", "err", err)
			}
		case <-settle.C:
			w.readTokens(true, written)
			armed, written = false, false
		case <-w.noted:
			w.tellForeign()
		}
	}
}

// watchDir adds the mirror's directory to fw, once it exists, and reports
// whether it did before ctx ended; a failure is logged.
func (w *Writer) watchDir(ctx context.Context, fw *fsnotify.Watcher) bool {
	dir := filepath.Clean(w.files.Dir)
	for {
		err := fw.Add(dir)
		if err == nil {
			return true
		}
		if !errors.Is(err, fs.ErrNotExist) {
			w.logger.Warn("ovos_utils token file not watched: tokens other programs refresh are taken at the daemon's next refresh", "err", err)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.wrote: // the first write makes the directory
		}
	}
}

// readTokens reads the token file for noteForeign, unless it is as this
// Writer last wrote or read it and was not written in place; without
// report, it only learns the entries it finds.
func (w *Writer) readTokens(report, inPlace bool) {
	q := &w.tokens
	q.mu.Lock()
	seen := q.seen
	q.mu.Unlock()
	// Every read of the file notes what other programs changed in it: a
	// file as last seen holds nothing new. An in-place write of the same
	// size within the file system's clock tick leaves the stamp as it was.
	if !inPlace && seen.equal(stampOf(w.files.TokenFile())) {
		return
	}
	_, _, err := w.files.updateStamp(q.name, q.fileMu, func(entries map[string]json.RawMessage) bool {
		q.prime(entries)
		if report {
			w.noteForeign(entries)
		}
		return false
	})
	if err != nil {
		// Not a JSON object (yet): the program writing it has not finished,
		// or left it so; its next change is read again.
		w.logger.Debug("ovos_utils token file not read", "err", err)
	}
}

// foreignChange is a token entry another program changed.
type foreignChange struct {
	id  string
	tok *oauth.Token
}

// noteForeign notes, among the entries just read from the token file, each
// one another program changed: one this Writer wrote or read before whose
// value is another now, once per value, and not another database's. The
// watcher tells Changed of them. The caller holds the file's locks, not
// q.mu.
func (w *Writer) noteForeign(entries map[string]json.RawMessage) {
	if w.Changed == nil {
		return
	}
	q := &w.tokens
	var found []foreignChange
	q.mu.Lock()
	for id, raw := range entries {
		h, ok := hashOf(raw)
		known, isKnown := q.known[id]
		if !ok || !isKnown || known == h {
			delete(q.foreign, id)
			continue
		}
		if q.foreign[id] == h || w.files.others(raw) {
			continue
		}
		if q.foreign == nil {
			q.foreign = make(map[string][sha256.Size]byte)
		}
		q.foreign[id] = h
		if tok := tokenOf(raw); tok != nil {
			found = append(found, foreignChange{id, tok})
		}
	}
	q.mu.Unlock()
	if len(found) == 0 {
		return
	}
	w.mu.Lock()
	w.foreign = append(w.foreign, found...)
	w.mu.Unlock()
	select {
	case w.noted <- struct{}{}:
	default:
	}
}

// tellForeign tells Changed of the noted changes, outside every lock:
// Changed may take the app's, which a refresh holds while it reads the
// file.
func (w *Writer) tellForeign() {
	w.mu.Lock()
	found := w.foreign
	w.foreign = nil
	w.mu.Unlock()
	for _, c := range found {
		w.Changed(c.id, c.tok)
	}
}
