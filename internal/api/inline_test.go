package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/api"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// sent is a message the service sent, and whether it was sent on the
// goroutine that called Dispatch, before Dispatch returned.
type sent struct {
	m          bus.Message
	inDispatch bool
}

// callerOutbox records what the service sends and from where.
type callerOutbox struct {
	mu   sync.Mutex
	msgs []sent
	more chan struct{}
}

func (o *callerOutbox) Send(m bus.Message) error {
	// The calling goroutine's own frames; "created by" names where a
	// worker was started, not who calls.
	stack, _, _ := strings.Cut(string(debug.Stack()), "\ncreated by ")
	o.mu.Lock()
	o.msgs = append(o.msgs, sent{m, strings.Contains(stack, "api.(*Service).Dispatch(")})
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return nil
}

func (o *callerOutbox) snapshot() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sent(nil), o.msgs...)
}

// wait returns what was sent once there are n messages.
func (o *callerOutbox) wait(t *testing.T, n int) []sent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s := o.snapshot(); len(s) >= n {
			return s
		}
		select {
		case <-o.more:
		case <-deadline:
			t.Fatalf("%d messages sent, want %d", len(o.snapshot()), n)
		}
	}
}

// discard is a Sender for the engine's events, which these tests do not
// count.
type discard struct{}

func (discard) Send(bus.Message) error { return nil }

// inlineFixture is a running service whose engine has apps "a" and "b" of
// skill "s" logged in with tokens valid for an hour, held in memory as
// after a first oauth.token.get, and a provider whose token endpoint waits
// for release and answers AT-new.
type inlineFixture struct {
	svc     *api.Service
	stop    func() // ends Run once every request has its reply
	out     *callerOutbox
	db      *store.DB
	hit     chan string   // the app whose token the provider was asked for
	release chan struct{} // closed: the provider answers
}

func newInlineFixture(t *testing.T) *inlineFixture {
	t.Helper()
	db := store.New(filepath.Join(t.TempDir(), "test.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &inlineFixture{out: &callerOutbox{more: make(chan struct{}, 1)}, db: db, hit: make(chan string, 10), release: make(chan struct{})}
	logger := slog.New(slog.DiscardHandler)
	e := oauth.NewEngine(db, api.NewPublisher(discard{}, logger), "http://192.0.2.10:36536", logger)
	e.HTTPClient = &http.Client{Transport: oauthtest.InProcess{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hit <- strings.TrimPrefix(r.URL.Path, "/token/")
		<-f.release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"AT-new","token_type":"Bearer","expires_in":3600,"refresh_token":"RT-new"}`))
	})}}
	f.svc = api.New(e, f.out, nil, "192.0.2.10", 36536, logger)
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if _, err := e.Register(context.Background(), oauth.Registration{SkillID: "s", AppID: id, ClientID: "c",
			AuthEndpoint: "http://provider.test/auth", TokenEndpoint: "http://provider.test/token/" + id}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutToken("s_"+id, &oauth.Token{AccessToken: oauth.Secret("AT-" + id), TokenType: "Bearer", RefreshToken: "RT", Expiry: now.Add(time.Hour), Obtained: now}); err != nil {
			t.Fatal(err)
		}
		// What the first oauth.token.get reads from the file, kept.
		if _, _, err := e.Token(context.Background(), "s", id); err != nil {
			t.Fatal(err)
		}
	}
	f.stop = run(t, f.svc)
	// Requests wait for Run: once one is answered, it runs.
	f.svc.Dispatch(request("oauth.get.app.host.info", map[string]any{}))
	f.out.wait(t, 1)
	f.out.mu.Lock()
	f.out.msgs = nil
	f.out.mu.Unlock()
	return f
}

// withID is a request whose context carries an id of the asker's, as the
// bench's does: replies copy the context.
func withID(m bus.Message, id string) bus.Message {
	m.Context["request_id"] = json.RawMessage(`"` + id + `"`)
	return m
}

// TestAnsweredInline: oauth.get.app.host.info, and oauth.token.get of a
// token held in memory and not due for a refresh, are answered on the
// goroutine that dispatched them (the bus's read loop), before Dispatch
// returns: no hand-over to a worker. Each still gets exactly one reply,
// the one the queue would give, with the request's context.
func TestAnsweredInline(t *testing.T) {
	t.Parallel()
	f := newInlineFixture(t)
	tests := []struct {
		req       bus.Message
		replyType string
		want      map[string]any
	}{
		{withID(request("oauth.get.app.host.info", map[string]any{}), "r1"), "oauth.app.host.info.response", map[string]any{"host": "192.0.2.10", "port": float64(36536)}},
		{withID(request("oauth.token.get", map[string]any{"skill_id": "s", "app_id": "a"}), "r2"), "oauth.token.get.response", map[string]any{"skill_id": "s", "app_id": "a", "access_token": "AT-a", "token_type": "Bearer"}},
	}
	for i, tt := range tests {
		f.svc.Dispatch(tt.req)
		got := f.out.snapshot()
		if len(got) != i+1 {
			t.Fatalf("%s: %d replies when Dispatch returned, want it answered by then", tt.req.Type, len(got)-i)
		}
		if !got[i].inDispatch {
			t.Errorf("%s: answered from another goroutine, want the one that dispatched it", tt.req.Type)
		}
	}
	select {
	case app := <-f.hit:
		t.Fatalf("the provider was asked for %s's token", app)
	default:
	}
	got := f.out.snapshot()
	for i, tt := range tests {
		m := got[i].m
		if m.Type != tt.replyType {
			t.Errorf("reply %d is %s, want %s", i, m.Type, tt.replyType)
		}
		// The context as the queue's reply has it: the asker's, with
		// source and destination swapped.
		wantCtx, _ := json.Marshal(tt.req.Reply(tt.replyType, nil).Context)
		if gotCtx, _ := json.Marshal(m.Context); string(gotCtx) != string(wantCtx) {
			t.Errorf("%s's context = %s, want %s", m.Type, gotCtx, wantCtx)
		}
		d := dataOf(t, m)
		for k, v := range tt.want {
			if d[k] != v {
				t.Errorf("%s: %s = %v, want %v (data %v)", m.Type, k, d[k], v, d)
			}
		}
		if d["error"] != nil {
			t.Errorf("%s: error %v", m.Type, d["error"])
		}
	}
	f.stop()
	if n := len(f.out.snapshot()); n != 2 {
		t.Errorf("%d replies, want one per request", n)
	}
}

// TestInlineKeepsItsAppsOrder: an oauth.token.get that could be answered
// from memory does not pass a request of its app that runs or waits: it
// waits behind it in the queue, and gets the token that request stored.
// Other apps' are still answered at once.
func TestInlineKeepsItsAppsOrder(t *testing.T) {
	t.Parallel()
	f := newInlineFixture(t)
	f.svc.Dispatch(request("oauth.refresh", map[string]any{"skill_id": "s", "app_id": "a"}))
	if app := <-f.hit; app != "a" {
		t.Fatalf("provider asked for %s, want a", app)
	}
	// The refresh of a waits for the provider: a's token.get must wait too.
	f.svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "s", "app_id": "a"}))
	f.svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "s", "app_id": "b"}))
	got := f.out.snapshot()
	if len(got) != 1 || !got[0].inDispatch || dataOf(t, got[0].m)["app_id"] != "b" {
		t.Fatalf("replies while a's refresh runs: %v; want only b's token, answered at once", got)
	}
	close(f.release)
	got = f.out.wait(t, 3)
	if got[1].m.Type != "oauth.refresh.response" || got[2].m.Type != "oauth.token.get.response" {
		t.Fatalf("a's replies: %s, then %s; want the refresh's first", got[1].m.Type, got[2].m.Type)
	}
	if d := dataOf(t, got[1].m); d["result"] != "Ok" {
		t.Errorf("refresh: %v", d)
	}
	if d := dataOf(t, got[2].m); d["error"] != nil || d["access_token"] != "AT-new" {
		t.Errorf("token.get after the refresh: %v, want the refreshed token", d)
	}
}

// TestTokenDueGoesThroughTheQueue: a token held in memory but due for a
// refresh is not handed out from the read loop: oauth.token.get goes
// through the queue, which refreshes it. (TestTokenInMemory has the
// engine's side: a token due but not expired, a login to redo.)
func TestTokenDueGoesThroughTheQueue(t *testing.T) {
	t.Parallel()
	f := newInlineFixture(t)
	now := time.Now()
	// Expired, so that Token waits for the refresh (it would hand out a
	// token still valid if the provider were slow).
	if err := f.db.PutToken("s_a", &oauth.Token{AccessToken: "AT-old", TokenType: "Bearer", RefreshToken: "RT", Expiry: now.Add(-time.Second), Obtained: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Token("s_a"); err != nil { // back in memory
		t.Fatal(err)
	}
	f.svc.Dispatch(request("oauth.token.get", map[string]any{"skill_id": "s", "app_id": "a"}))
	if app := <-f.hit; app != "a" {
		t.Fatalf("provider asked for %s, want a", app)
	}
	close(f.release)
	got := f.out.wait(t, 1)
	if got[0].inDispatch {
		t.Error("the token due for a refresh was answered on the dispatching goroutine")
	}
	if d := dataOf(t, got[0].m); d["access_token"] != "AT-new" {
		t.Errorf("reply %v, want the refreshed token", d)
	}
}
