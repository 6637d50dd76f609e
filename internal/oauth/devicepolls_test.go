package oauth_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// TestHungDevicePollsLeaveRefreshesAlone: six device logins whose token
// endpoint never answers do not take the slots an unrelated app's
// refreshes run in; it is refreshed on time, every 30 s.
func TestHungDevicePollsLeaveRefreshesAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.login(t, "app", `{"access_token":"AT","token_type":"Bearer","expires_in":60,"refresh_token":"RT"}`)
		var (
			mu        sync.Mutex
			refreshes []time.Time
			polls     int
			codes     int
		)
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/device":
				mu.Lock()
				codes++
				n := codes
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"device_code":"DC-`+itoa(n)+`","user_code":"WDJB-MJHT","verification_uri":"https://provider.test/device","expires_in":1800,"interval":5}`)
			case r.PostForm.Get("grant_type") == "refresh_token":
				mu.Lock()
				refreshes = append(refreshes, time.Now())
				mu.Unlock()
				jsonAnswer(200, `{"access_token":"AT","token_type":"Bearer","expires_in":60,"refresh_token":"RT"}`)(w, r)
			default: // a device poll: the provider never answers
				mu.Lock()
				polls++
				mu.Unlock()
				<-r.Context().Done()
			}
		})
		for _, id := range []string{"tv1", "tv2", "tv3", "tv4", "tv5", "tv6"} {
			f.register(t, id, func(r *oauth.Registration) { r.DeviceEndpoint = "http://provider.test/device" })
		}
		f.start(t)
		defer f.stop(t)
		t0 := time.Now()
		for _, id := range []string{"tv1", "tv2", "tv3", "tv4", "tv5", "tv6"} {
			if _, _, err := f.e.StartFlow(context.Background(), "skill.test", id); err != nil {
				t.Fatal(err)
			}
		}
		advance(5 * time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if polls < 6 {
			t.Fatalf("%d device polls, want the six logins polling", polls)
		}
		// The token lives 60 s: refreshed at half its life, every 30 s.
		if len(refreshes) != 10 {
			t.Errorf("%d refreshes in 5 minutes beside hung device polls, want 10", len(refreshes))
		}
		for i, at := range refreshes {
			if want := t0.Add(time.Duration(i+1) * 30 * time.Second); !at.Equal(want) {
				t.Errorf("refresh %d at %v, want %v: held back by device polls", i+1, at.Sub(t0), want.Sub(t0))
			}
		}
	})
}

// TestDevicePollsBounded: device polls run at most MaxPolls at once, as
// refreshes run at most MaxRefreshes at once.
func TestDevicePollsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newSyncFixture(t)
		f.e.MaxPolls = 2
		var (
			mu             sync.Mutex
			inFlight, most int
			codes          int
		)
		f.te.set(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/device" {
				mu.Lock()
				codes++
				n := codes
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"device_code":"DC-`+itoa(n)+`","user_code":"WDJB-MJHT","verification_uri":"https://provider.test/device","expires_in":1800,"interval":5}`)
				return
			}
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			<-r.Context().Done()
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
		for _, id := range []string{"tv1", "tv2", "tv3", "tv4", "tv5"} {
			f.register(t, id, func(r *oauth.Registration) { r.DeviceEndpoint = "http://provider.test/device" })
		}
		f.start(t)
		defer f.stop(t)
		for _, id := range []string{"tv1", "tv2", "tv3", "tv4", "tv5"} {
			if _, _, err := f.e.StartFlow(context.Background(), "skill.test", id); err != nil {
				t.Fatal(err)
			}
		}
		advance(2 * time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if most != 2 {
			t.Errorf("at most %d device polls at once, want 2", most)
		}
	})
}
