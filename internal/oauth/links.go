package oauth

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// How the login that a repeated answer or a revisited short link belongs
// to went: the cause (Error.Err) of a CodeAlreadyAnswered error, so that a
// page can say "finished" with a tick, "being finished", or "did not work".
var (
	ErrLoginFinished  = errors.New("the login finished with a token")
	ErrLoginFinishing = errors.New("the login is being finished")
	ErrLoginFailed    = errors.New("the login ended without a token")
)

// ErrLoginEnded is the cause of the invalid_state error that answers the
// link or the answer of a login which a change of the app's login mode
// ended.
var ErrLoginEnded = errors.New("the login was ended by a change of the app's login mode")

// Bounds of the memory of short links: enough for every login a household
// starts in a day, small enough to cost nothing.
const (
	linkMemorySize = 1024
	linkMemoryFor  = 24 * time.Hour
)

// linkMemory remembers the short links this run gave out, for a day, and
// how each login ended, so that a link opened again once its login is gone
// from the store (finished, failed, or expired and swept) says which, not
// "unknown". It keys them by the SHA-256 of the flow id: the id opens the
// login, the hash cannot. At most linkMemorySize links, the oldest going
// first.
type linkMemory struct {
	mu      sync.Mutex
	entries map[[32]byte]*linkEntry
	order   [][32]byte // oldest first; every key of entries, once
}

type linkEntry struct {
	opened  time.Time
	expires time.Time
	ended   bool // outcome is set
	outcome loginOutcome
}

// opened records a link given out at now, valid until expires.
func (m *linkMemory) opened(flowID string, expires, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = make(map[[32]byte]*linkEntry)
	}
	m.forget(now)
	for len(m.order) >= linkMemorySize {
		m.drop()
	}
	key := sha256.Sum256([]byte(flowID))
	if _, ok := m.entries[key]; !ok {
		m.order = append(m.order, key)
	}
	m.entries[key] = &linkEntry{opened: now, expires: expires}
}

// ended records how the login of a link ended; a link not remembered stays
// so.
func (m *linkMemory) ended(flowID string, outcome loginOutcome, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget(now)
	if en, ok := m.entries[sha256.Sum256([]byte(flowID))]; ok {
		en.ended, en.outcome = true, outcome
	}
}

// lookup returns what is remembered of a link.
func (m *linkMemory) lookup(flowID string, now time.Time) (linkEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	en, ok := m.entries[sha256.Sum256([]byte(flowID))]
	if !ok || now.Sub(en.opened) > linkMemoryFor {
		return linkEntry{}, false
	}
	return *en, true
}

// forget drops the links older than linkMemoryFor.
func (m *linkMemory) forget(now time.Time) {
	for len(m.order) > 0 && now.Sub(m.entries[m.order[0]].opened) > linkMemoryFor {
		m.drop()
	}
}

// drop forgets the oldest link.
func (m *linkMemory) drop() {
	delete(m.entries, m.order[0])
	m.order[0] = [32]byte{}
	m.order = m.order[1:]
}
