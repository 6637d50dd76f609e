// Package api maps the oauth.* messages of the OVOS bus to the flow engine.
// It decodes each request into a typed struct at the edge, runs it off the
// bus read loop, and answers every request exactly once, with the reply
// semantics of ovos-bus-client and an `error` where it failed.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
)

// Sender puts a message on the bus without blocking; bus.Client is one.
type Sender interface {
	Send(bus.Message) error
}

// QRWriter renders a link as a PNG and returns the image's absolute path;
// qr.Dir is one. WriteCaptioned adds the text a device login needs beside
// the code: the address and the user code.
type QRWriter interface {
	Write(text string) (path string, err error)
	WriteCaptioned(text string, c qr.Caption) (path string, err error)
}

// Observer is told of every reply to a request, for metrics: the request's
// type (one of RequestTypes), its outcome ("ok", or the error code the reply
// carries) and the time from its arrival to its reply. It is called from
// any goroutine, before the reply is sent, and must not block.
type Observer interface {
	Request(msgType, outcome string, took time.Duration)
}

// RequestTypes lists the request types the service answers, sorted.
func RequestTypes() []string {
	types := make([]string, 0, len(handlers))
	for t := range handlers {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Service answers the oauth.* requests and emits the oauth.* events. It
// implements bus.Handler and oauth.Events. Requests about one app run in
// the order they arrived; requests about different apps run concurrently,
// so a slow provider or a flood of requests for one app delays only that
// app. Every request gets its one reply within ReplyWithin: the answer, or
// "busy" when it could not be run in time.
type Service struct {
	// Sender carries replies and events; it must be set before Run.
	Sender Sender
	// MaxQueued bounds the requests waiting to run, MaxQueuedPerApp those
	// of one app, and MaxQueuedBytes the bytes they hold; past any of them
	// a request is answered at once with error "busy". Defaults 1024, 64
	// and 16 MiB.
	MaxQueued, MaxQueuedPerApp, MaxQueuedBytes int
	// ReplyWithin bounds the time from a request's arrival to its reply; a
	// skill waits about 3 s. A request still queued then is answered
	// "busy"; one still running is answered "busy" too while its work goes
	// on (a refresh, a token exchange), and its late result is dropped.
	// Default 2.5 s.
	ReplyWithin time.Duration
	// Observer, if set, is told of every reply (metrics).
	Observer Observer
	// Text words what a person reads in the images the service makes (a
	// device login's "Go to … and enter the code"); default English.
	Text *i18n.Printer

	engine *oauth.Engine
	qr     QRWriter
	host   string
	port   int
	logger *slog.Logger

	initOnce sync.Once
	// life is the handlers' context: cancelled when Run's ends.
	life    context.Context
	stop    context.CancelFunc
	workers sync.WaitGroup // running requests' goroutines, and idle ones
	// idle hands an app's first request to a worker goroutine parked
	// after its last one, if there is one: a goroutine whose stack has
	// grown for the handlers already, rather than a new one per request
	// that would grow and copy its stack again each time.
	idle chan *request

	mu      sync.Mutex
	running bool                 // Run has started: workers may start
	nidle   int                  // workers parked on idle, or about to be
	stopped bool                 // Run's context has ended: requests are dropped
	apps    map[string]*appQueue // per app with a request running or waiting
	queued  int                  // requests dispatched and not yet answered or started
	bytes   int                  // their sizes
}

// appQueue is one app's requests: the one running (if active) and those
// waiting behind it, in arrival order.
type appQueue struct {
	active  bool
	waiting []*request
}

// request is a dispatched request on its way to a worker.
type request struct {
	m        bus.Message
	h        handler
	key      string // the app it is about
	size     int
	arrived  time.Time
	deadline time.Time
	expire   *time.Timer // answers it busy while it waits, at its deadline
}

// New returns a service over engine. host and port are what
// oauth.get.app.host.info answers: the callback server as phones reach it.
func New(engine *oauth.Engine, qr QRWriter, host string, port int, logger *slog.Logger) *Service {
	return &Service{
		MaxQueued: 1024, MaxQueuedPerApp: 64, MaxQueuedBytes: 16 << 20, ReplyWithin: 2500 * time.Millisecond,
		Text:   i18n.For("en"),
		engine: engine, qr: qr, host: host, port: port, logger: logger,
	}
}

func (s *Service) init() {
	s.initOnce.Do(func() {
		s.life, s.stop = context.WithCancel(context.Background())
		s.idle = make(chan *request)
		s.apps = make(map[string]*appQueue)
	})
}

// Handles reports whether msgType is a request this service answers. It is
// called on every frame the bus relays, so it does no work beyond a switch.
// None of the types the service emits is a request: its own replies, which
// the bus relays back, are never taken for requests.
func (s *Service) Handles(msgType string) bool {
	_, ok := handlers[msgType]
	return ok
}

// errBusy is the answer to a request that cannot be run in time.
var errBusy = &oauth.Error{Code: oauth.CodeBusy, Description: "ovos-oauth is busy with this app; try again"}

// Dispatch starts a request and returns at once: on a goroutine of its
// own when no other request of its app is running (and Run has started),
// else queued behind them. A request that does not fit is answered "busy"
// at once; one dispatched after Run's context ended is dropped.
//
// The request starts from here, on the bus's read goroutine, rather than
// through a dispatcher goroutine: each hand-over between goroutines costs
// a wake-up of another thread, which for a request answered from memory
// weighs more than the request itself (BenchmarkFrame measures the path).
func (s *Service) Dispatch(m bus.Message) {
	h, ok := handlers[m.Type]
	if !ok {
		return
	}
	s.init()
	now := time.Now()
	r := &request{m: m, h: h, key: orderKey(m), size: messageSize(m), arrived: now, deadline: now.Add(s.ReplyWithin)}
	s.mu.Lock()
	if s.stopped {
		// Dropped at shutdown; the asker times out as it would with the
		// daemon stopped.
		s.mu.Unlock()
		return
	}
	q := s.apps[r.key]
	// Counted as queued whether it starts at once or not, so that the
	// bounds mean what they say also for a lone request.
	fits := s.queued < s.MaxQueued && (q == nil || len(q.waiting) < s.MaxQueuedPerApp) && s.bytes+r.size <= s.MaxQueuedBytes
	start := false
	switch {
	case !fits:
	case q == nil && s.running:
		s.apps[r.key] = &appQueue{active: true}
		s.workers.Add(1)
		start = true
	default:
		if q == nil {
			q = &appQueue{}
			s.apps[r.key] = q
		}
		q.waiting = append(q.waiting, r)
		s.queued++
		s.bytes += r.size
		r.expire = time.AfterFunc(time.Until(r.deadline), func() { s.expired(r) })
	}
	s.mu.Unlock()
	switch {
	case !fits:
		s.logger.Warn("request refused, queue full", "type", m.Type)
		s.answer(r, h.fail(m, errBusy))
	case start:
		select {
		case s.idle <- r:
			s.workers.Done() // the parked worker is counted already
		default:
			go s.work(r)
		}
	}
}

// maxIdle bounds the workers parked for the next request: as many as the
// requests that usually run at once on a device.
const maxIdle = 4

// work runs r, then the requests of its app that queued meanwhile, one at
// a time. When the app's queue is empty it parks for another app's first
// request, unless maxIdle workers are parked already or Run is ending.
func (s *Service) work(r *request) {
	defer s.workers.Done()
	for {
		for r != nil {
			s.handle(s.life, r)
			s.mu.Lock()
			r = s.next(r.key)
			s.mu.Unlock()
		}
		s.mu.Lock()
		park := !s.stopped && s.nidle < maxIdle
		if park {
			s.nidle++
		}
		s.mu.Unlock()
		if !park {
			return
		}
		select {
		case r = <-s.idle:
		case <-s.life.Done():
		}
		s.mu.Lock()
		s.nidle--
		s.mu.Unlock()
		if r == nil {
			return
		}
	}
}

// next takes the next waiting request of the app off its queue, or, when
// none waits, ends the app's turn and returns nil. s.mu is held.
func (s *Service) next(key string) *request {
	q := s.apps[key]
	if len(q.waiting) == 0 || s.stopped {
		delete(s.apps, key)
		return nil
	}
	r := q.waiting[0]
	q.waiting[0] = nil
	q.waiting = q.waiting[1:]
	s.dequeued(r)
	return r
}

// dequeued takes r off the queue's counts: it started, or was answered.
// s.mu is held.
func (s *Service) dequeued(r *request) {
	s.queued--
	s.bytes -= r.size
	if r.expire != nil {
		// Stopped under s.mu: a timer that fired already finds r gone.
		r.expire.Stop()
	}
}

// expired answers r "busy" if it is still waiting at its deadline.
func (s *Service) expired(r *request) {
	s.mu.Lock()
	q := s.apps[r.key]
	i := -1
	if q != nil {
		i = slices.Index(q.waiting, r)
	}
	if i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
		s.dequeued(r)
		if !q.active && len(q.waiting) == 0 {
			delete(s.apps, r.key)
		}
	}
	s.mu.Unlock()
	if i >= 0 {
		s.logger.Warn("request refused, waited too long behind this app's others", "type", r.m.Type)
		s.answer(r, r.h.fail(r.m, errBusy))
	}
}

// messageSize is what a queued request holds in memory, near enough.
func messageSize(m bus.Message) int {
	n := len(m.Type) + len(m.Data)
	for k, v := range m.Context {
		n += len(k) + len(v)
	}
	return n
}

// Invalid answers a request whose frame did not decode, with
// invalid_request: its sender waits for a reply like any other. The frame's
// context is lost with it, so the reply has none.
func (s *Service) Invalid(msgType string, err error) {
	h, ok := handlers[msgType]
	if !ok {
		return
	}
	m := bus.Message{Type: msgType}
	s.logger.Info("request refused", "type", msgType, "code", oauth.CodeInvalidRequest)
	s.answer(&request{m: m, arrived: time.Now()}, h.fail(m, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "the message is not valid JSON, or its data is not an object", Err: err}))
}

// Run lets requests run until ctx ends (those dispatched before it wait
// for it), then drops the ones still waiting, cancels the running ones'
// context and waits for them to finish. One request runs per app at a
// time; requests that wait behind it past their deadline are answered
// "busy" by their own timer.
func (s *Service) Run(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.running = true
	for key, q := range s.apps {
		if !q.active && !s.stopped {
			q.active = true
			s.workers.Add(1)
			go s.work(s.next(key))
		}
	}
	s.mu.Unlock()

	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true
	for _, q := range s.apps {
		// Requests not yet started are dropped at shutdown; their
		// askers time out as they would with the daemon stopped.
		for _, r := range q.waiting {
			s.dequeued(r)
		}
		q.waiting = nil
	}
	s.mu.Unlock()
	s.stop()
	s.workers.Wait()
	return nil
}

// orderKey is the app a request is about, so requests about one app run in
// order (a skill's oauth.register before its oauth.get). Ids that are plain
// JSON strings (all valid ones) key as they are; anything else is keyed by
// its value re-encoded, so that two spellings of one value are one app.
func orderKey(m bus.Message) string {
	var raw struct {
		SkillID json.RawMessage `json:"skill_id"`
		AppID   json.RawMessage `json:"app_id"`
	}
	if m.DecodeData(&raw) == nil && plainString(raw.SkillID) && plainString(raw.AppID) {
		return string(raw.SkillID) + "," + string(raw.AppID)
	}
	var ref struct {
		SkillID any `json:"skill_id"`
		AppID   any `json:"app_id"`
	}
	_ = m.DecodeData(&ref)
	k, _ := json.Marshal([]any{ref.SkillID, ref.AppID})
	return string(k)
}

// plainString reports whether raw is a JSON string without escapes, whose
// bytes are its only spelling.
func plainString(raw json.RawMessage) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return true
}

// handle runs one request and sends its one reply by the request's
// deadline. A handler still running then is answered "busy"; it is waited
// for (its work, a refresh or an exchange, finishes and is stored) before
// the app's next request starts, and its result is dropped.
//
// The handler runs on the caller's goroutine; the deadline's busy reply
// comes from the context's own timer, so a request costs no goroutine and
// no timer beyond those.
func (s *Service) handle(ctx context.Context, r *request) {
	m, h := r.m, r.h
	if !time.Now().Before(r.deadline) {
		s.answer(r, h.fail(m, errBusy))
		return
	}
	hctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	var answered atomic.Bool
	busy := func() {
		if answered.CompareAndSwap(false, true) {
			s.logger.Warn("request answered busy, it took too long", "type", m.Type)
			s.answer(r, h.fail(m, errBusy))
		}
	}
	late := context.AfterFunc(hctx, func() {
		// At the deadline, not at shutdown: a handler whose context is
		// cancelled returns soon, with its own reply.
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			busy()
		}
	})
	reply := s.run(hctx, r)
	late()
	if errors.Is(hctx.Err(), context.DeadlineExceeded) {
		// Past the deadline the answer is "busy", whoever sends it: a
		// handler that gave up at its deadline does not race the timer
		// with its own error.
		busy()
		return
	}
	if !answered.CompareAndSwap(false, true) {
		return
	}
	s.answer(r, reply)
	if h.then != nil {
		for _, ev := range h.then(s, m, reply) {
			s.emit(ev)
		}
	}
}

// run runs r's handler and returns its reply. A bug in one handler must
// not take the daemon down, and the asker still gets its one reply.
func (s *Service) run(ctx context.Context, r *request) (reply bus.Message) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("request handler panicked", "type", r.m.Type, "panic", p)
			reply = r.h.fail(r.m, &oauth.Error{Code: oauth.CodeInternal, Description: "internal error"})
		}
	}()
	return r.h.run(s, ctx, r.m)
}

// answer sends the one reply to r, telling the Observer first.
func (s *Service) answer(r *request, out bus.Message) {
	if s.Observer != nil {
		s.Observer.Request(r.m.Type, outcome(out), time.Since(r.arrived))
	}
	s.reply(r.m, out)
}

// outcome is "ok", or the error code a reply carries.
func outcome(reply bus.Message) string {
	var data struct {
		Error any `json:"error"`
	}
	if reply.DecodeData(&data) == nil {
		if code, ok := data.Error.(string); ok && code != "" {
			return code
		}
	}
	return "ok"
}

func (s *Service) reply(req bus.Message, out bus.Message) {
	if err := s.Sender.Send(out); err != nil {
		s.logger.Error("reply not sent", "type", out.Type, "request", req.Type, "err", err)
	}
}

// emit sends an event. It carries no request's context: bus.Client.Send
// gives it the default session, as ovos-bus-client's emit does.
func (s *Service) emit(m bus.Message) {
	if err := s.Sender.Send(m); err != nil {
		s.logger.Error("event not sent", "type", m.Type, "err", err)
	}
}
