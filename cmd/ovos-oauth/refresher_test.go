//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/polltest"
)

// otherRefresher plays a Python program that refreshes an app's token on
// its own, as ovos-media-plugin-spotify does with spotipy and ovos_utils'
// get_oauth_token does: it reads the app's entry from ovos_oauth.json,
// refreshes at the provider with the refresh token there, and writes the
// provider's answer back into the entry, under json_database's lock.
type otherRefresher struct {
	file, lock    string
	id            string
	tokenEndpoint string
	clientID      string
	secret        string
}

func newOtherRefresher(s *setup, appID string) *otherRefresher {
	return &otherRefresher{
		file: filepath.Join(s.d.home, ".cache", "mycroft", "json_database", "ovos_oauth.json"),
		// json_database's lock, where the daemon takes it too.
		lock:          filepath.Join(os.TempDir(), "ovos_oauth.json.lock"),
		id:            skillID + "_" + appID,
		tokenEndpoint: s.p.TokenEndpoint,
		clientID:      "web",
		secret:        secret,
	}
}

// locked runs f under json_database's lock on the token file.
func (o *otherRefresher) locked(f func() error) error {
	l, err := os.OpenFile(o.lock, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(l.Fd()), syscall.LOCK_UN)
	return f()
}

// entry reads the app's entry.
func (o *otherRefresher) entry() (map[string]any, error) {
	var entry map[string]any
	err := o.locked(func() error {
		b, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		var all map[string]map[string]any
		if err := json.Unmarshal(b, &all); err != nil {
			return err
		}
		entry = all[o.id]
		return nil
	})
	if err == nil && entry == nil {
		err = errors.New("no entry")
	}
	return entry, err
}

// errRefused is a refresh token the provider refused: invalid_grant.
var errRefused = errors.New("refresh token refused")

// refresh asks the provider for a new token with rt.
func (o *otherRefresher) refresh(rt string) (map[string]any, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, err := http.NewRequest(http.MethodPost, o.tokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(o.clientID, o.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	if answer["error"] == "invalid_grant" {
		return nil, errRefused
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %v", resp.StatusCode, answer["error"])
	}
	// As ovos_utils' refresh helper stores it: expires_at from its clock.
	answer["expires_at"] = float64(time.Now().UnixMicro())/1e6 + answer["expires_in"].(float64)
	return answer, nil
}

// write puts answer into the app's entry, leaving the rest of the file as
// it is, and writes the file in place as json_database does.
func (o *otherRefresher) write(answer map[string]any) error {
	return o.locked(func() error {
		b, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		var all map[string]any
		if err := json.Unmarshal(b, &all); err != nil {
			return err
		}
		all[o.id] = answer
		out, err := json.MarshalIndent(all, "", "    ")
		if err != nil {
			return err
		}
		return os.WriteFile(o.file, out, 0o600)
	})
}

// refreshOnce reads the entry, refreshes with its refresh token and writes
// the answer back; it returns the refresh token it presented and the new
// access token.
func (o *otherRefresher) refreshOnce() (presented, accessToken string, err error) {
	entry, err := o.entry()
	if err != nil {
		return "", "", err
	}
	presented, _ = entry["refresh_token"].(string)
	answer, err := o.refresh(presented)
	if err != nil {
		return presented, "", err
	}
	if err := o.write(answer); err != nil {
		return presented, "", err
	}
	return presented, answer["access_token"].(string), nil
}

// mirroredEntry is the app's entry in the token file as a Python reader
// sees it, nil when there is none.
func mirroredEntry(file, id string) map[string]any {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var all map[string]map[string]any
	if json.Unmarshal(b, &all) != nil {
		return nil
	}
	return all[id]
}

// loggedInWithOther logs the app in and waits until the token file holds
// its token; the provider issues rotating refresh tokens (zitadel's).
func loggedInWithOther(t *testing.T, tokenEndpoint func(p *oauthtest.Provider) string) (*setup, *otherRefresher) {
	t.Helper()
	s := newSetup(t, map[string]string{"web": secret}, "demoapp")
	extra := map[string]any{}
	if tokenEndpoint != nil {
		extra["token_endpoint"] = tokenEndpoint(s.p)
	}
	s.register(t, "demoapp", "web", secret, extra)
	if status, _ := get(t, s.redirectFor(t, "demoapp")); status != 200 {
		t.Fatal("login failed")
	}
	at := dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_demoapp"))["access_token"]
	o := newOtherRefresher(s, "demoapp")
	waitJSON(t, o.file, func(m map[string]any) bool {
		e, _ := m[o.id].(map[string]any)
		return e["access_token"] == at
	})
	return s, o
}

// noReauth fails if the skill heard that the login must be done again.
func noReauth(t *testing.T, s *setup) {
	t.Helper()
	if n := s.count("oauth.reauth.required." + skillID + "_demoapp"); n != 0 {
		t.Errorf("oauth.reauth.required sent %d times, want never: the login is alive", n)
	}
}

// TestDaemonTakesTokenAnotherProgramRefreshed: a Python program refreshes
// the token between the daemon's refreshes, rotating its refresh token and
// (at zitadel) deleting the access token the daemon handed out. The daemon
// notices, hands out the live token and announces it, and its own next
// refresh uses the live refresh token.
func TestDaemonTakesTokenAnotherProgramRefreshed(t *testing.T) {
	t.Parallel()
	s, o := loggedInWithOther(t, nil)
	_, at, err := o.refreshOnce()
	if err != nil {
		t.Fatalf("the other program's refresh: %v", err)
	}
	ev := dataOf(t, s.skill.Expect(t, "oauth.token.refreshed."+skillID+"_demoapp"))
	if ev["access_token"] != at {
		t.Errorf("oauth.token.refreshed carries another token than the one the other program refreshed")
	}
	got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
	if got["access_token"] != at {
		t.Errorf("oauth.token.get hands out another token than the live one")
	}
	if got, _ := got["access_token"].(string); s.p.Userinfo(t, got) != http.StatusOK {
		t.Errorf("oauth.token.get hands out a token the provider refuses")
	}
	noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	if _, reused := s.p.Refreshes(); reused != 0 {
		t.Errorf("%d refresh tokens presented twice, want none", reused)
	}
	noReauth(t, s)
}

// raceProxy stands before the provider's token endpoint: when armed, a
// refresh request from the daemon waits while the other program refreshes
// with the same refresh token and writes its answer, then goes on to the
// provider, which refuses the rotated-away token. It is the worst
// interleaving of two refreshers, made certain.
type raceProxy struct {
	*httptest.Server
	upstream string

	mu    sync.Mutex
	armed func() error
	errs  []error
}

func newRaceProxy(t *testing.T, upstream string) *raceProxy {
	rp := &raceProxy{upstream: upstream}
	rp.Server = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.Close)
	return rp
}

func (rp *raceProxy) arm(first func() error) {
	rp.mu.Lock()
	rp.armed = first
	rp.mu.Unlock()
}

func (rp *raceProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	rp.mu.Lock()
	first := rp.armed
	if form.Get("grant_type") == "refresh_token" {
		rp.armed = nil
	} else {
		first = nil
	}
	rp.mu.Unlock()
	if first != nil {
		if err := first(); err != nil {
			rp.mu.Lock()
			rp.errs = append(rp.errs, err)
			rp.mu.Unlock()
		}
	}
	req, _ := http.NewRequest(r.Method, rp.upstream, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// TestRefreshAfterAnotherProgramRotated: the other program refreshes with
// the very refresh token the daemon is presenting, a moment before it, so
// that the provider refuses the daemon's: the daemon takes the other
// program's token from the file instead of asking the user to log in
// again, every time.
func TestRefreshAfterAnotherProgramRotated(t *testing.T) {
	t.Parallel()
	var proxy *raceProxy
	s, o := loggedInWithOther(t, func(p *oauthtest.Provider) string {
		proxy = newRaceProxy(t, p.TokenEndpoint)
		return proxy.URL
	})
	for i := range 5 {
		var theirs string
		proxy.arm(func() (err error) {
			_, theirs, err = o.refreshOnce()
			return err
		})
		rep := s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response")
		if d := dataOf(t, rep); d["error"] != nil {
			t.Fatalf("refresh %d: error %v (%v), want the other program's token", i, d["error"], d["error_description"])
		}
		at, _ := dataOf(t, rep)["token"].(map[string]any)["access_token"].(string)
		if s.p.Userinfo(t, at) != http.StatusOK {
			t.Errorf("refresh %d: the daemon handed out a token the provider refuses", i)
		}
		if at != theirs {
			t.Errorf("refresh %d: the daemon refreshed again where the other program just had", i)
		}
	}
	if len(proxy.errs) != 0 {
		t.Errorf("the other program's refreshes failed: %v", proxy.errs)
	}
	noReauth(t, s)
}

// TestTwoRefreshersRace: the other program refreshes over and over while
// skills ask the daemon for refreshes and tokens. Whoever loses a race at
// the provider takes the winner's token from the file. The daemon never
// asks for a new login, every reply carries a token, and the file never
// goes back to a refresh token it held before.
func TestTwoRefreshersRace(t *testing.T) {
	t.Parallel()
	s, o := loggedInWithOther(t, nil)
	id := skillID + "_demoapp"

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Also when the test fails half-way: nothing outlives it.
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(halt)
	var mu sync.Mutex
	var problems []string
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// The file, watched: a refresh token once replaced never comes back.
	wg.Go(func() {
		order := map[string]int{}
		latest := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			if e := mirroredEntry(o.file, id); e != nil {
				rt, _ := e["refresh_token"].(string)
				n, seen := order[rt]
				switch {
				case !seen:
					latest++
					order[rt] = latest
				case n < latest:
					problem("the file went back to refresh token #%d after #%d", n, latest)
					latest = n // report each step back once
				}
			}
			time.Sleep(time.Millisecond)
		}
	})
	// The other program, refreshing every few milliseconds. A refusal
	// means the daemon rotated the token first: it waits for the daemon's
	// in the file.
	refreshes, refused := 0, 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
			}
			presented, _, err := o.refreshOnce()
			if errors.Is(err, errRefused) {
				refused++
				deadline := time.Now().Add(5 * time.Second)
				for {
					if e, _ := o.entry(); e != nil && e["refresh_token"] != presented {
						break
					}
					if time.Now().After(deadline) {
						problem("the other program's refresh token was refused and no other came into the file")
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				continue
			}
			if err != nil {
				problem("the other program's refresh: %v", err)
				return
			}
			refreshes++
		}
	})
	// Skills ask at their own pace, now and then at the very moment the
	// other program refreshes.
	for range 20 {
		<-time.After(time.Duration(rand.IntN(200)) * time.Millisecond)
		noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
		noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
	}
	halt()
	for _, p := range problems {
		t.Error(p)
	}
	if refreshes == 0 {
		t.Error("the other program never refreshed: no race")
	}
	// Settled: the daemon and the file agree on a token the provider takes.
	var at string
	polltest.Until(t, "the daemon and the file to hold the same token", func() bool {
		got := noErr(t, s.skill.request(t, "oauth.token.get", app("demoapp"), "oauth.token.get.response"))
		at, _ = got["access_token"].(string)
		e := mirroredEntry(o.file, id)
		return e != nil && e["access_token"] == at
	})
	if s.p.Userinfo(t, at) != http.StatusOK {
		t.Error("the settled token is one the provider refuses")
	}
	noErr(t, s.skill.request(t, "oauth.refresh", app("demoapp"), "oauth.refresh.response"))
	noReauth(t, s)
	total, reused := s.p.Refreshes()
	t.Logf("%d refreshes at the provider, %d by the other program; %d refused as rotated away, %d of the other program's", total, refreshes, reused, refused)
}
