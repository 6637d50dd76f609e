package api_test

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
)

// requestLog records what the service tells its Observer.
type requestLog struct {
	mu    sync.Mutex
	calls []observedRequest
}

type observedRequest struct {
	typ, outcome string
	took         time.Duration
}

func (l *requestLog) Request(typ, outcome string, took time.Duration) {
	l.mu.Lock()
	l.calls = append(l.calls, observedRequest{typ, outcome, took})
	l.mu.Unlock()
}

func (l *requestLog) snapshot() []observedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]observedRequest(nil), l.calls...)
}

// TestObserverSeesEveryReply: each reply is observed once, before it is
// sent, with the request's type, "ok" or the reply's error code, and the
// time since the request arrived, also for requests answered "busy" or
// refused before they ran.
func TestObserverSeesEveryReply(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		svc, out, _ := fairFixture(t)
		obs := &requestLog{}
		svc.Observer = obs
		stop := runInBubble(t, svc)
		defer stop()

		svc.Dispatch(request("oauth.get.app.host.info", map[string]any{}))
		svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "fast"}))
		svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "nothing"}))
		svc.Invalid("oauth.register", nil)
		synctest.Wait()
		// The slow app's refresh hangs: its asker is answered busy once
		// ReplyWithin has passed since the request arrived.
		svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "skill", "app_id": "slow"}))
		time.Sleep(svc.ReplyWithin + time.Second)
		synctest.Wait()

		got := obs.snapshot()
		want := []observedRequest{
			{"oauth.get.app.host.info", "ok", 0},
			{"oauth.token.get", "ok", 0},
			{"oauth.token.get", "unknown_app", 0},
			{"oauth.register", "invalid_request", 0},
			{"oauth.token.get", "busy", svc.ReplyWithin},
		}
		// Requests about different apps run concurrently: compare as sets.
		less := func(a, b observedRequest) int {
			if a.typ+a.outcome < b.typ+b.outcome {
				return -1
			}
			if a.typ+a.outcome > b.typ+b.outcome {
				return 1
			}
			return 0
		}
		slices.SortFunc(got, less)
		slices.SortFunc(want, less)
		if !slices.Equal(got, want) {
			t.Errorf("observed %+v,\nwant %+v", got, want)
		}
		if n := out.count(); n != len(want) {
			t.Errorf("%d replies sent, %d observed", n, len(want))
		}
	})
}

func TestRequestTypes(t *testing.T) {
	t.Parallel()
	types := api.RequestTypes()
	svc, _ := newService(t)
	if len(types) < 12 || !slices.IsSorted(types) {
		t.Fatalf("RequestTypes() = %q, want the dozen request types, sorted", types)
	}
	for _, typ := range types {
		if !svc.Handles(typ) {
			t.Errorf("RequestTypes() lists %q, which the service does not handle", typ)
		}
	}
	for _, typ := range []string{"oauth.url", "oauth.ping", "oauth.register.response", "oauth.token.response.x_y"} {
		if slices.Contains(types, typ) {
			t.Errorf("RequestTypes() lists %q, which is not a request", typ)
		}
	}
}
