package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth/oauthtest"
)

// The bench's own app, the one get, qr and token.get ask about.
const (
	benchSkill = "ovos-oauth-bench.openvoiceos"
	benchApp   = "bench"
	benchMunge = benchSkill + "_" + benchApp
	benchScope = "openid offline_access"
)

// bench is one run of the command.
type bench struct {
	opt    options
	stderr io.Writer

	busURL   string
	echo     *conn   // the floor's responder
	conns    []*conn // one per concurrent client; conns[0] also sets up
	runID    string  // in the bench ids and registered skill ids
	provider *oauthtest.Provider
	regSeq   atomic.Uint64

	daemon *exec.Cmd
	exited chan error // the child's Wait
	pid    int        // whose /proc to read; 0: none
	apps   int        // apps the bench has registered
}

func (b *bench) run(ctx context.Context) (report, error) {
	var rep report
	b.runID = strings.ToLower(rand.Text()[:8])
	b.pid = b.opt.pid
	disconnect, err := b.connect()
	if err != nil {
		return rep, err
	}
	defer disconnect()
	if len(b.opt.daemon) > 0 {
		if _, err := b.startDaemon(); err != nil {
			return rep, err
		}
		defer func() {
			if err := b.stopDaemon(); err != nil {
				fmt.Fprintln(b.stderr, "ovos-oauth-bench:", err)
			}
		}()
	} else if err := b.waitUp(ctx); err != nil {
		return rep, err
	}
	b.memory(ctx, &rep, "up, before any request", 0)

	if b.opt.preload > 0 {
		if err := b.preload(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if b.opt.starts > 0 {
		if rep.Startup, err = b.timeStarts(ctx); err != nil {
			return rep, err
		}
	}
	defer func() {
		if b.provider != nil {
			b.provider.Close()
		}
	}()
	if err := b.setUp(); err != nil {
		return rep, err
	}
	if err := b.runRows(ctx, &rep); err != nil {
		return rep, err
	}
	setRatios(rep.Rows)
	if len(rep.Rows) > 0 && rep.Rows[len(rep.Rows)-1].Kind != kindPreload {
		b.memoryAfter(ctx, &rep, "the last row")
	}
	return rep, ctx.Err()
}

// connect hosts a bus if asked, attaches the echo responder and the first
// client to the bus, and returns what detaches them and stops the bus.
func (b *bench) connect() (disconnect func(), err error) {
	var undo []func()
	disconnect = func() {
		for _, f := range slices.Backward(undo) {
			f()
		}
	}
	defer func() {
		if err != nil {
			disconnect()
		}
	}()
	b.busURL = b.opt.busURL
	if b.opt.hostBus != "" {
		url, stop, err := hostBus(b.opt.hostBus)
		if err != nil {
			return nil, err
		}
		undo = append(undo, stop)
		if b.busURL == "" {
			b.busURL = url
		}
		fmt.Fprintf(b.stderr, "hosting a bus with Nagle's algorithm on at %s\n", url)
	}
	if b.echo, err = dial(b.busURL, "", echoResponder); err != nil {
		return nil, err
	}
	undo = append(undo, func() { b.echo.Close() }, func() {
		for _, c := range b.conns {
			c.Close()
		}
	})
	if err := b.grow(1); err != nil {
		return nil, err
	}
	return disconnect, nil
}

// memoryAfter samples the daemon's memory after what, and with -idle once
// more when it has settled.
func (b *bench) memoryAfter(ctx context.Context, rep *report, what string) {
	b.memory(ctx, rep, "after "+what, 0)
	if b.opt.idle > 0 {
		b.memory(ctx, rep, fmt.Sprintf("%v after %s", b.opt.idle, what), b.opt.idle)
	}
}

// preload registers the preload's apps, at the highest concurrency, as a
// row of rep, and samples the daemon's memory after it.
func (b *bench) preload(ctx context.Context, rep *report) error {
	r, err := b.runRow(ctx, kindPreload, slices.Max(b.opt.cs), b.opt.preload, 0)
	if err != nil {
		return err
	}
	rep.Rows = append(rep.Rows, r)
	b.memoryAfter(ctx, rep, "the preload")
	return nil
}

// timeStarts restarts the daemon as often as asked and times each start.
func (b *bench) timeStarts(ctx context.Context) (*startup, error) {
	var samples []time.Duration
	for range b.opt.starts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.stopDaemon(); err != nil {
			return nil, err
		}
		d, err := b.startDaemon()
		if err != nil {
			return nil, err
		}
		samples = append(samples, d)
	}
	return newStartup(b.apps, samples), nil
}

// runRows runs a row of each kind at each concurrency and adds them to rep.
func (b *bench) runRows(ctx context.Context, rep *report) error {
	for i, c := range b.opt.cs {
		for _, kind := range b.opt.kinds {
			if err := ctx.Err(); err != nil {
				return err
			}
			if kind == kindUnhandled && i > 0 {
				continue // once is enough: one sender, no replies
			}
			var r row
			var err error
			if kind == kindUnhandled {
				r, err = b.runUnhandled(ctx)
			} else {
				r, err = b.runRow(ctx, kind, c, b.opt.n, b.opt.duration)
			}
			if err != nil {
				return err
			}
			rep.Rows = append(rep.Rows, r)
		}
	}
	return nil
}

// memory adds a sample of the daemon's memory to rep, after waiting wait
// (less if ctx ends: then no sample).
func (b *bench) memory(ctx context.Context, rep *report, when string, wait time.Duration) {
	if b.pid == 0 {
		return
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if s, ok := b.sample(); ok {
		rep.Memory = append(rep.Memory, newMemory(when, s))
	}
}

// hostBus serves a bus.Hub with Nagle's algorithm on, as tornado leaves it
// in ovos-messagebus: replies written back to back reach a client ~40 ms
// apart unless it ACKs at once.
func hostBus(addr string) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("host a bus on %s: %w", addr, err)
	}
	hub := bus.NewHub(slog.New(slog.DiscardHandler))
	hub.NoDelay = false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Serve(ctx, ln)
	}()
	return "ws://" + ln.Addr().String() + hub.Route, func() { cancel(); <-done }, nil
}

// grow dials clients until there are n.
func (b *bench) grow(n int) error {
	for len(b.conns) < n {
		c, err := dial(b.busURL, fmt.Sprintf("%s-%d-", b.runID, len(b.conns)), nil)
		if err != nil {
			return err
		}
		b.conns = append(b.conns, c)
	}
	return nil
}

// startDaemon starts the daemon's command and waits for its oauth.ping,
// which it sends once attached to the bus. It returns the time from just
// before the exec to the ping's arrival.
func (b *bench) startDaemon() (time.Duration, error) {
	ping, stop := b.conns[0].watch("oauth.ping", 1)
	defer stop()
	args := make([]string, len(b.opt.daemon))
	for i, a := range b.opt.daemon {
		args[i] = strings.ReplaceAll(a, "{bus}", b.busURL)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = b.stderr, b.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	timer := time.NewTimer(b.opt.wait)
	defer timer.Stop()
	select {
	case <-ping:
		b.daemon, b.exited, b.pid = cmd, exited, cmd.Process.Pid
		return time.Since(start), nil
	case err := <-exited:
		return 0, fmt.Errorf("the daemon exited before it sent oauth.ping: %v", err)
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return 0, fmt.Errorf("the daemon sent no oauth.ping within %v", b.opt.wait)
	}
}

// stopDaemon stops the child with SIGTERM, or SIGKILL after 10 s. An exit
// status other than 0 is an error.
func (b *bench) stopDaemon() error {
	if b.daemon == nil {
		return nil
	}
	cmd, exited := b.daemon, b.exited
	b.daemon, b.exited, b.pid = nil, nil, 0
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("the daemon, stopped with SIGTERM: %w", err)
		}
		return nil
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("the daemon did not stop within 10s of SIGTERM; killed it")
	}
}

// waitUp waits until a daemon answers host.info.
func (b *bench) waitUp(ctx context.Context) error {
	deadline := time.Now().Add(b.opt.wait)
	for {
		_, _, err := b.conns[0].request("oauth.get.app.host.info", nil, "oauth.app.host.info.response", 500*time.Millisecond)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, errLost):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("no daemon on the bus at %s answered oauth.get.app.host.info within %v", b.busURL, b.opt.wait)
		case ctx.Err() != nil:
			return ctx.Err()
		}
	}
}

// setUp registers the bench's app for get, qr and token.get, against an
// OAuth provider the bench serves on 127.0.0.1, and logs in for token.get.
func (b *bench) setUp() error {
	need := func(kinds ...string) bool {
		return slices.ContainsFunc(b.opt.kinds, func(k string) bool { return slices.Contains(kinds, k) })
	}
	if !need(kindGet, kindQR, kindTokenGet) {
		return nil
	}
	c := b.conns[0]
	var host struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	if err := c.call("oauth.get.app.host.info", nil, "oauth.app.host.info.response", b.opt.timeout, &host); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	redirect := fmt.Sprintf("http://%s/auth/callback/%s", net.JoinHostPort(host.Host, fmt.Sprint(host.Port)), benchMunge)
	secret := rand.Text()
	p, err := oauthtest.New(oauthtest.Options{}, oauthtest.Client{ID: "ovos-oauth-bench", Secret: secret, RedirectURIs: []string{redirect}})
	if err != nil {
		return fmt.Errorf("set up: the bench's OAuth provider: %w", err)
	}
	b.provider = p // run closes it

	reg, _ := json.Marshal(map[string]any{
		"skill_id": benchSkill, "app_id": benchApp,
		"auth_endpoint": p.AuthEndpoint, "token_endpoint": p.TokenEndpoint,
		"client_id": "ovos-oauth-bench", "client_secret": secret, "scope": benchScope,
	})
	if err := c.call("oauth.register", reg, "oauth.register.response", b.opt.timeout, nil); err != nil {
		return fmt.Errorf("set up: register the bench's app: %w", err)
	}
	b.apps++
	if !need(kindTokenGet) {
		return nil
	}
	// The login, as a phone does it: the authorization URL, the provider's
	// login form, the redirect to the daemon's callback.
	token, stop := c.watch("oauth.token.response."+benchMunge, 1)
	defer stop()
	var got struct {
		URL string `json:"url"`
	}
	if err := c.call("oauth.get", appRef(), "oauth.url", b.opt.timeout, &got); err != nil {
		return fmt.Errorf("set up: the login's URL: %w", err)
	}
	jar, _ := cookiejar.New(nil)
	resp, _, err := p.Authorize(&http.Client{Jar: jar, Timeout: 30 * time.Second}, got.URL)
	if err != nil {
		return fmt.Errorf("set up: log in for token.get: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set up: log in for token.get: the daemon's callback answered %d (is its public host 127.0.0.1?)", resp.StatusCode)
	}
	select {
	case <-token:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("set up: log in for token.get: no oauth.token.response.%s within 10s", benchMunge)
	}
}

func appRef() json.RawMessage {
	return json.RawMessage(`{"skill_id":"` + benchSkill + `","app_id":"` + benchApp + `"}`)
}

// call is request for the set-up: a lost or failed reply is an error, and
// the reply's data goes into v (if not nil).
func (c *conn) call(typ string, data json.RawMessage, want string, timeout time.Duration, v any) error {
	frame, _, err := c.request(typ, data, want, timeout)
	if errors.Is(err, errLost) {
		return fmt.Errorf("%s: no %s within %v", typ, want, timeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	if msg := replyError(frame); msg != "" {
		return fmt.Errorf("%s: %s answered error %q", typ, want, msg)
	}
	if v == nil {
		return nil
	}
	var reply struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(frame, &reply); err != nil {
		return fmt.Errorf("%s: %s: %w", typ, want, err)
	}
	if err := json.Unmarshal(reply.Data, v); err != nil {
		return fmt.Errorf("%s: %s data: %w", typ, want, err)
	}
	return nil
}

// replyError returns the error a reply's data reports, "" for none.
// Daemons write "error" as a string; anything set counts.
func replyError(frame []byte) string {
	var reply struct {
		Data struct {
			Error json.RawMessage `json:"error"`
		} `json:"data"`
	}
	if json.Unmarshal(frame, &reply) != nil {
		return "the reply is not a JSON object"
	}
	switch e := strings.TrimSpace(string(reply.Data.Error)); e {
	case "", "null", "false", `""`:
		return ""
	default:
		var s string
		if json.Unmarshal(reply.Data.Error, &s) == nil {
			return s
		}
		return e
	}
}

// request is one request of a kind: what to send, and the reply to wait for.
type request struct {
	typ, want string
	data      json.RawMessage
}

// next returns the i-th request of kind.
func (b *bench) next(kind string) request {
	switch kind {
	case kindEcho:
		return request{typeEcho, typeEchoReply, nil}
	case kindHostInfo:
		return request{"oauth.get.app.host.info", "oauth.app.host.info.response", nil}
	case kindGet:
		return request{"oauth.get", "oauth.url", appRef()}
	case kindTokenGet:
		return request{"oauth.token.get", "oauth.token.get.response", appRef()}
	case kindQR:
		return request{"oauth.generate.qr.request", "oauth.generate.qr.response", appRef()}
	case kindRegister, kindPreload:
		// A new app each time, as skills bring them; endpoints that are
		// never called.
		data, _ := json.Marshal(map[string]any{
			"skill_id": fmt.Sprintf("bench-%s-%s-%d.openvoiceos", kind, b.runID, b.regSeq.Add(1)), "app_id": "app",
			"auth_endpoint": "https://provider.example/authorize", "token_endpoint": "https://provider.example/token",
			"client_id": "bench-client", "scope": "read",
		})
		return request{"oauth.register", "oauth.register.response", data}
	}
	panic("unknown kind " + kind)
}

// runRow sends requests of kind from c clients, each with one request in
// flight, n in all, or for d if d > 0.
func (b *bench) runRow(ctx context.Context, kind string, c, n int, d time.Duration) (row, error) {
	if err := b.grow(c); err != nil {
		return row{}, err
	}
	r := row{Kind: kind, C: c}
	before, okBefore := b.sample()
	var (
		sent atomic.Int64
		t    = tally{lat: make([]time.Duration, 0, max(n, 1024))}
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range c {
		wg.Go(func() {
			cn := b.conns[w]
			for ctx.Err() == nil {
				if d > 0 {
					if time.Now().After(deadline) {
						return
					}
					sent.Add(1)
				} else if sent.Add(1) > int64(n) {
					return
				}
				req := b.next(kind)
				if !t.add(cn.request(req.typ, req.data, req.want, b.opt.timeout)) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.firstErr != nil {
		return r, fmt.Errorf("%s at c=%d: %w", kind, c, t.firstErr)
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if t.errs > 0 {
		fmt.Fprintf(b.stderr, "ovos-oauth-bench: %s at c=%d: %d of %d replies had an error, the first %q\n", kind, c, t.errs, len(t.lat), t.errMsg)
	}
	r.N = len(t.lat) + t.lost
	r.Lost, r.Errors = t.lost, t.errs
	if kind == kindRegister || kind == kindPreload {
		b.apps += len(t.lat) - t.errs
	}
	r.summarize(t.lat, elapsed)
	after, okAfter := b.sample()
	r.setProc(before, after, okBefore && okAfter)
	return r, nil
}

// tally collects the outcomes of a row's requests. Safe for concurrent use
// until the row ends.
type tally struct {
	mu       sync.Mutex
	lat      []time.Duration // of the replies
	lost     int
	errs     int    // replies that are errors
	errMsg   string // the first error reply's
	firstErr error  // a failure that ends the row
}

// add records one request's reply, its latency took, or its failure, and
// reports whether its sender goes on: not after a failure other than a
// lost reply.
func (t *tally) add(frame []byte, took time.Duration, err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case errors.Is(err, errLost):
		t.lost++
	case err != nil:
		if t.firstErr == nil {
			t.firstErr = err
		}
		return false
	default:
		t.lat = append(t.lat, took)
		if msg := replyError(frame); msg != "" {
			if t.errs == 0 {
				t.errMsg = msg
			}
			t.errs++
		}
	}
	return true
}

// unhandledData is the data of a frame no OAuth daemon handles, of the size
// and shape of the utterances and GUI events that fill an OVOS bus.
var unhandledData = json.RawMessage(`{"utterances":["what is the weather like tomorrow in lisbon"],"lang":"en-US"}`)

const typeUnhandled = "bench.unhandled"

// runUnhandled sends -unhandled frames nobody answers, one at a time: each
// is sent once the bus has relayed the one before back to the bench, so
// that the daemon gets them one by one, as the frames of a live bus arrive,
// rather than packed by the dozen into TCP segments. A host.info follows:
// the bus keeps each client's frames in order and the daemon reads its
// frames in order, so its reply comes once it has read them all.
func (b *bench) runUnhandled(ctx context.Context) (row, error) {
	c := b.conns[0]
	r := row{Kind: kindUnhandled, C: 1, N: b.opt.unhandled}
	before, okBefore := b.sample()
	start := time.Now()
	for range b.opt.unhandled {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		// The bench's own copy, relayed back, is the "reply".
		_, _, err := c.request(typeUnhandled, unhandledData, typeUnhandled, b.opt.timeout)
		switch {
		case errors.Is(err, errLost):
			r.Lost++ // the bus lost it
		case err != nil:
			return r, fmt.Errorf("unhandled: %w", err)
		}
	}
	timeout := max(b.opt.timeout, 60*time.Second)
	_, _, err := c.request("oauth.get.app.host.info", nil, "oauth.app.host.info.response", timeout)
	switch {
	case errors.Is(err, errLost):
		r.Lost++
	case err != nil:
		return r, fmt.Errorf("unhandled: %w", err)
	}
	if elapsed := time.Since(start); elapsed > 0 {
		r.PerSecond = float64(r.N) / elapsed.Seconds()
	}
	after, okAfter := b.sample()
	r.setProc(before, after, okBefore && okAfter)
	return r, nil
}

// sample reads the daemon's /proc, if the bench knows its pid. A failure
// is reported once per row and leaves the columns empty.
func (b *bench) sample() (procSample, bool) {
	if b.pid == 0 {
		return procSample{}, false
	}
	s, err := readProc(b.pid)
	if err != nil {
		fmt.Fprintf(b.stderr, "ovos-oauth-bench: the daemon's CPU and RSS: %v\n", err)
		return procSample{}, false
	}
	return s, true
}
