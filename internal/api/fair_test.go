package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// timedOutbox records when each message was sent, on the bubble's clock.
type timedOutbox struct {
	mu   sync.Mutex
	msgs []bus.Message
	at   []time.Time
}

// count is how many messages were sent.
func (o *timedOutbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

func (o *timedOutbox) Send(m bus.Message) error {
	o.mu.Lock()
	o.msgs = append(o.msgs, m)
	o.at = append(o.at, time.Now())
	o.mu.Unlock()
	return nil
}

// fairFixture: a service over an engine whose provider hangs on the token
// endpoint of app "slow" and answers every other at once. "slow" has an
// expired token, so oauth.token.get must refresh it; "fast" has a valid
// one.
func fairFixture(t *testing.T) (*api.Service, *timedOutbox, *store.DB) {
	t.Helper()
	db := storetest.Open(t)
	out := &timedOutbox{}
	e := oauth.NewEngine(db, api.NewPublisher(out, slog.New(slog.DiscardHandler)), "http://192.0.2.10:36536", slog.New(slog.DiscardHandler))
	e.HTTPClient = &http.Client{Transport: oauthtest.InProcess{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			<-r.Context().Done() // hangs until the engine gives up
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"AT-new","token_type":"Bearer","expires_in":3600}`))
	})}}
	svc := api.New(e, out, nil, "192.0.2.10", 36536, slog.New(slog.DiscardHandler))
	now := time.Now()
	for _, id := range []string{"slow", "fast"} {
		if _, err := e.Register(context.Background(), oauth.Registration{SkillID: "skill", AppID: id, ClientID: "c",
			AuthEndpoint: "http://provider.test/auth", TokenEndpoint: "http://provider.test/token/" + id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutToken("skill_slow", &oauth.Token{AccessToken: "AT-old", RefreshToken: "RT", Expiry: now.Add(-time.Minute), Obtained: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutToken("skill_fast", &oauth.Token{AccessToken: "AT-fast", Expiry: now.Add(time.Hour), Obtained: now}); err != nil {
		t.Fatal(err)
	}
	return svc, out, db
}

// TestSlowProviderDelaysOnlyItsApp: a provider that hangs on refresh, and
// a flood of oauth.token.get for its app, while other skills register and
// ask for their tokens or start logins. Theirs are answered at once; the hanging app's all
// get an error reply within ReplyWithin; every request gets exactly one.
func TestSlowProviderDelaysOnlyItsApp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		svc, out, _ := fairFixture(t)
		stop := runInBubble(t, svc)
		t0 := time.Now()
		const slow, fast, others = 200, 20, 20
		for i := range slow + fast + others {
			switch {
			case i%12 == 0 && i/12 < others:
				svc.Dispatch(request("oauth.register", map[string]any{"skill_id": "other", "app_id": "app" + itoa(i), "auth_endpoint": "https://p.test/a", "token_endpoint": "https://p.test/t"}))
			case i%12 == 1 && i/12 < fast:
				svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "fast"}))
			case i%12 == 2 && i/12 < fast:
				// A login of another app starts while the flood waits.
				svc.Dispatch(request("oauth.get", map[string]any{"skill_id": "skill", "app_id": "fast"}))
			default:
				svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "slow"}))
			}
		}
		synctest.Wait()
		time.Sleep(svc.ReplyWithin + time.Millisecond)
		synctest.Wait()

		out.mu.Lock()
		msgs, at := append([]bus.Message(nil), out.msgs...), append([]time.Time(nil), out.at...)
		out.mu.Unlock()
		counts := map[string]int{}
		for i, m := range msgs {
			var d map[string]any
			if err := m.DecodeData(&d); err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Type == "oauth.register.response":
				counts["register"]++
				if d["error"] != nil || at[i] != t0 {
					t.Errorf("a registration of another skill: %v at +%v, want it answered at once", d, at[i].Sub(t0))
				}
			case m.Type == "oauth.token.get.response" && d["app_id"] == "fast":
				counts["fast"]++
				if d["access_token"] != "AT-fast" || at[i] != t0 {
					t.Errorf("the fast app's token: %v at +%v, want it at once", d, at[i].Sub(t0))
				}
			case m.Type == "oauth.url":
				counts["login"]++
				if u, _ := d["url"].(string); !strings.HasPrefix(u, "http://provider.test/auth?") || at[i] != t0 {
					t.Errorf("another app's login: %v at +%v, want its URL at once", d, at[i].Sub(t0))
				}
			case m.Type == "oauth.token.get.response" && d["app_id"] == "slow":
				counts["slow"]++
				if code := d["error"]; code != "busy" && code != "provider_unavailable" {
					t.Errorf("the hanging app's reply = %v, want busy or provider_unavailable", d)
				}
				if late := at[i].Sub(t0); late > svc.ReplyWithin {
					t.Errorf("the hanging app's reply came after %v, want within %v", late, svc.ReplyWithin)
				}
			}
		}
		want := map[string]int{"register": others, "fast": fast, "login": fast, "slow": slow - fast}
		for k, n := range want {
			if counts[k] != n {
				t.Errorf("%d replies for %s, want %d (one per request)", counts[k], k, n)
			}
		}
		stop()
	})
}

// TestQueueBoundsBytes: large requests are refused with a reply once the
// bytes queued reach MaxQueuedBytes, whatever their number.
func TestQueueBoundsBytes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		svc, out, _ := fairFixture(t)
		svc.MaxQueuedBytes = 1 << 20
		stop := runInBubble(t, svc)
		big := strings.Repeat("x", 256<<10)
		for range 20 {
			svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "slow", "padding": big}))
		}
		// The refused ones are answered at once, before any time passes.
		synctest.Wait()
		refused := out.count()
		// One runs, at most four wait: the others are refused.
		if refused < 20-1-4 {
			t.Errorf("%d of 20 256 KiB requests refused at once with a 1 MiB bound, want at least 15", refused)
		}
		time.Sleep(svc.ReplyWithin + time.Millisecond)
		synctest.Wait()
		total := out.count()
		if total != 20 {
			t.Errorf("%d replies, want 20: one per request", total)
		}
		stop()
	})
}

// runInBubble runs svc in the test's synctest bubble; stop ends it once
// the hanging refresh has ended at the engine's provider deadline.
func runInBubble(t *testing.T, svc *api.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return func() {
		cancel()
		time.Sleep(time.Minute)
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestFloodMemoryBounded replays, scaled down, the flood that took the
// daemon to 3 GB: 150 requests of 384 KiB (56 MB offered) and 1,100 small
// oauth.token.get, all for an app whose provider hangs. What the service holds stays within its
// bounds; every request gets its reply. The heap is measured and logged.
//
// The requests and the bound on queued bytes are three eighths of the
// daemon's 1 MB and 16 MiB, so that the same number fit: each large
// request is scanned as JSON, which costs 40 ms a MB under -race. Not
// parallel: the heap is measured while no other test allocates.
func TestFloodMemoryBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, out, _ := fairFixture(t)
		svc.MaxQueuedBytes = 6 << 20
		stop := runInBubble(t, svc)
		// The test's own, before the heap is measured: the padding, and
		// room for the replies it records.
		big := strings.Repeat("x", 384<<10)
		out.msgs, out.at = make([]bus.Message, 0, 1250), make([]time.Time, 0, 1250)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 150 {
			svc.Dispatch(bus.Message{Type: "oauth.token.get", Data: []byte(`{"skill_id":"skill","app_id":"slow","padding":"` + big + `"}`)})
		}
		for range 1100 {
			svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "slow"}))
		}
		synctest.Wait()
		var during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&during)
		held := int64(during.HeapInuse) - int64(before.HeapInuse)
		t.Logf("heap in use while the flood is queued: %.1f MiB more than before (bound on queued bytes: %d MiB)", float64(held)/(1<<20), svc.MaxQueuedBytes>>20)
		if held > int64(svc.MaxQueuedBytes)*2 {
			t.Errorf("the service holds %d MiB for the flood, more than twice its bound of %d MiB", held>>20, svc.MaxQueuedBytes>>20)
		}
		time.Sleep(svc.ReplyWithin + time.Millisecond)
		synctest.Wait()
		n := out.count()
		if n != 1250 {
			t.Errorf("%d replies for 1,250 requests, want one each", n)
		}
		stop()
	})
}
