package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// fileReader is a skill on the bus that, like a Python skill reading
// ovos_utils' token file in its handler, reads ovos_oauth.json the moment
// a token event for one app reaches it.
type fileReader struct {
	prefixes []string
	file     string
	id       string
	got      chan readOnEvent
}

// readOnEvent is what a fileReader found: the event's access token and the
// one in the file at that moment ("" when the file held none).
type readOnEvent struct {
	typ, event, file string
}

func (r *fileReader) Handles(typ string) bool {
	for _, p := range r.prefixes {
		if typ == p+r.id {
			return true
		}
	}
	return false
}

func (r *fileReader) Dispatch(m bus.Message) {
	// First, as a handler would: the file as it is when the event arrives.
	b, _ := os.ReadFile(r.file)
	var entries map[string]struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &entries)
	var d struct {
		AccessToken string `json:"access_token"`
	}
	_ = m.DecodeData(&d)
	r.got <- readOnEvent{typ: m.Type, event: d.AccessToken, file: entries[r.id].AccessToken}
}

func (r *fileReader) Invalid(string, error) {}

// listenAndRead attaches a fileReader for the app's token events to the bus.
func listenAndRead(t *testing.T, busURL, file, mungedID string) <-chan readOnEvent {
	t.Helper()
	r := &fileReader{prefixes: []string{"oauth.token.response.", "oauth.token.refreshed."}, file: file, id: mungedID, got: make(chan readOnEvent, 64)}
	c := bus.NewClient(busURL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx, r) }()
	t.Cleanup(func() { cancel(); <-done })
	polltest.Until(t, "the reading skill to connect", c.Connected)
	return r.got
}

func nextRead(t *testing.T, got <-chan readOnEvent, typ string) readOnEvent {
	t.Helper()
	select {
	case r := <-got:
		if !strings.HasPrefix(r.typ, typ) {
			t.Fatalf("event %s, want %s…", r.typ, typ)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s… event within 10s", typ)
	}
	return readOnEvent{}
}

// TestTokenEventFindsMirroredToken: a skill that reads ovos_utils' token
// file when it hears oauth.token.response or oauth.token.refreshed finds
// exactly the token the event carries, after a first login and after each
// of many refreshes.
func TestTokenEventFindsMirroredToken(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	id := skillID + "_demoapp"
	file := filepath.Join(s.d.home, ".cache", "mycroft", "json_database", "ovos_oauth.json")
	got := listenAndRead(t, s.d.busURL, file, id)
	s.register(t, "demoapp", "web", secret, nil)
	if status, _ := get(t, s.redirectFor(t, "demoapp")); status != 200 {
		t.Fatal("login failed")
	}
	stale := 0
	check := func(r readOnEvent, want string) {
		t.Helper()
		if r.event == "" || r.event != want {
			t.Fatalf("%s carried another access token than the one handed out", r.typ)
		}
		if r.file != r.event {
			stale++
			what := "another token"
			if r.file == "" {
				what = "no token"
			}
			t.Errorf("%s: ovos_oauth.json held %s when the event arrived", r.typ, what)
		}
	}
	login := nextRead(t, got, "oauth.token.response.")
	check(login, login.event)
	const refreshes = 20
	for range refreshes {
		ref := noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
		at, _ := ref["token"].(map[string]any)["access_token"].(string)
		check(nextRead(t, got, "oauth.token.refreshed."), at)
	}
	if stale > 0 {
		t.Errorf("%d of %d token events arrived before the file held their token", stale, refreshes+1)
	}
}
