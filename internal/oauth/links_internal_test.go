package oauth

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestLinkMemoryBounds: the memory of links keeps at most linkMemorySize
// of them, the newest, each for linkMemoryFor, and keys them by a hash:
// the id, which opens a login, is not kept.
func TestLinkMemoryBounds(t *testing.T) {
	t.Parallel()
	var m linkMemory
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("LINK%022d", i) }
	for i := range linkMemorySize + 10 {
		m.opened(id(i), now.Add(10*time.Minute), now)
	}
	if n := len(m.entries); n != linkMemorySize {
		t.Errorf("%d links kept, want %d", n, linkMemorySize)
	}
	for i := range 10 {
		if _, ok := m.lookup(id(i), now); ok {
			t.Errorf("link %d of the oldest is still kept", i)
		}
	}
	last := id(linkMemorySize + 9)
	m.ended(last, completed, now)
	if en, ok := m.lookup(last, now); !ok || !en.ended || en.outcome != completed {
		t.Errorf("lookup(newest) = %+v, %v; want it completed", en, ok)
	}
	if _, ok := m.entries[sha256.Sum256([]byte(last))]; !ok {
		t.Error("entries are not keyed by the id's SHA-256")
	}
	later := now.Add(linkMemoryFor + time.Second)
	if _, ok := m.lookup(last, later); ok {
		t.Error("a link is kept beyond linkMemoryFor")
	}
	m.opened(id(-1), later, later)
	if n := len(m.entries); n != 1 {
		t.Errorf("%d links kept after linkMemoryFor, want only the new one", n)
	}
	// Ending a link never opened, or forgotten, keeps nothing.
	m.ended(id(-2), failed, later)
	if _, ok := m.lookup(id(-2), later); ok {
		t.Error("a link never opened is remembered")
	}
}
