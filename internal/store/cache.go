package store

import (
	"maps"
	"sync"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// cacheSize bounds the apps, and the tokens, that a DB keeps decoded: a
// device has a few dozen apps at most, and a storm of registrations of
// thousands must not keep them all in memory.
const cacheSize = 256

// cache keeps apps and tokens as the file holds them, decoded, so that the
// requests that read them (every oauth.token.get reads its app and its
// token) neither unseal nor decode JSON each time: under make bench that
// was most of oauth.token.get's CPU.
//
// The file is the truth and this process its only writer (bbolt's lock).
// Every method of DB that writes an app or a token forgets it here once
// its transaction has ended, committed or not, before it returns; so after
// a write returns, no read gets what was there before. A read that missed
// fills the entry from its own read transaction only if nothing was
// forgotten since it looked (gen): a read that began before a commit never
// puts back the value the commit replaced.
//
// Entries are handed out as deep copies: callers may modify what they get.
// Safe for concurrent use.
type cache struct {
	mu     sync.Mutex
	gen    uint64 // bumped by every forget
	apps   map[string]*oauth.App
	tokens map[string]*oauth.Token // a nil token: the app exists and has none
}

// app returns a copy of the cached app, if there is one.
func (c *cache) app(id string) (*oauth.App, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.apps[id]
	if !ok {
		return nil, false
	}
	return cloneApp(a), true
}

// token returns a copy of the cached token; a nil token with true when the
// app is known to have none.
func (c *cache) token(id string) (*oauth.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[id]
	if !ok {
		return nil, false
	}
	return cloneToken(t), true
}

// CachedApp returns the app with the munged id if the cache holds it,
// without reading the file: a copy the caller may modify. Safe for
// concurrent use.
func (db *DB) CachedApp(mungedID string) (*oauth.App, bool) { return db.cache.app(mungedID) }

// CachedToken returns the app's token if the cache holds it, without
// reading the file: a copy the caller may modify, or nil with true for an
// app known to have none. Safe for concurrent use.
func (db *DB) CachedToken(mungedID string) (*oauth.Token, bool) { return db.cache.token(mungedID) }

// generation is what a read that may fill the cache notes before its read
// transaction begins.
func (c *cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// putApp keeps a copy of a read whose transaction began after gen.
func (c *cache) putApp(gen uint64, id string, a *oauth.App) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.apps == nil {
		c.apps = make(map[string]*oauth.App)
	}
	evictOne(c.apps, id)
	c.apps[id] = cloneApp(a)
}

// putToken keeps a copy of a read whose transaction began after gen; nil
// for an app without a token.
func (c *cache) putToken(gen uint64, id string, t *oauth.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.tokens == nil {
		c.tokens = make(map[string]*oauth.Token)
	}
	evictOne(c.tokens, id)
	c.tokens[id] = cloneToken(t)
}

// forget drops the app's entries: its app record if app is set, its token
// if token is set.
func (c *cache) forget(id string, app, token bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if app {
		delete(c.apps, id)
	}
	if token {
		delete(c.tokens, id)
	}
}

// reset drops everything: the file is closed.
func (c *cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.apps, c.tokens = nil, nil
}

// evictOne makes room for key in a full map by dropping another entry,
// any one: map order is random enough, and the apps of a device fit.
func evictOne[V any](m map[string]V, key string) {
	if _, ok := m[key]; ok || len(m) < cacheSize {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

func cloneApp(a *oauth.App) *oauth.App {
	c := *a
	c.AuthParams = maps.Clone(a.AuthParams)
	return &c
}

func cloneToken(t *oauth.Token) *oauth.Token {
	if t == nil {
		return nil
	}
	c := *t
	if t.Raw != nil {
		c.Raw = cloneJSON(t.Raw).(map[string]any)
	}
	return &c
}

// cloneJSON deep-copies a value decoded from JSON into any.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = cloneJSON(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneJSON(e)
		}
		return c
	}
	return v
}
