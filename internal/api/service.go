// Package api maps the oauth.* messages of the OVOS bus to the flow engine.
// It decodes each request into a typed struct at the edge, runs it off the
// bus read loop, and answers every request exactly once, with the reply
// semantics of ovos-bus-client and an `error` where it failed.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Sender puts a message on the bus without blocking; bus.Client is one.
type Sender interface {
	Send(bus.Message) error
}

// QRWriter renders a link as a PNG and returns the image's absolute path;
// qr.Dir is one.
type QRWriter interface {
	Write(text string) (path string, err error)
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

	engine *oauth.Engine
	qr     QRWriter
	host   string
	port   int
	logger *slog.Logger

	initOnce sync.Once
	in       chan *request
	mu       sync.Mutex
	queued   int            // requests dispatched and not yet answered or started
	bytes    int            // their sizes
	perApp   map[string]int // their count per app
}

// request is a dispatched request on its way to a worker.
type request struct {
	m        bus.Message
	h        handler
	key      string // the app it is about
	size     int
	arrived  time.Time
	deadline time.Time
}

// New returns a service over engine. host and port are what
// oauth.get.app.host.info answers: the callback server as phones reach it.
func New(engine *oauth.Engine, qr QRWriter, host string, port int, logger *slog.Logger) *Service {
	return &Service{
		MaxQueued: 1024, MaxQueuedPerApp: 64, MaxQueuedBytes: 16 << 20, ReplyWithin: 2500 * time.Millisecond,
		engine: engine, qr: qr, host: host, port: port, logger: logger,
	}
}

func (s *Service) init() {
	s.initOnce.Do(func() {
		s.in = make(chan *request, s.MaxQueued)
		s.perApp = make(map[string]int)
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

// Dispatch queues a request for Run and returns at once; a request that
// does not fit is answered "busy" at once.
func (s *Service) Dispatch(m bus.Message) {
	h, ok := handlers[m.Type]
	if !ok {
		return
	}
	s.init()
	now := time.Now()
	r := &request{m: m, h: h, key: orderKey(m), size: messageSize(m), arrived: now, deadline: now.Add(s.ReplyWithin)}
	s.mu.Lock()
	fits := s.queued < s.MaxQueued && s.perApp[r.key] < s.MaxQueuedPerApp && s.bytes+r.size <= s.MaxQueuedBytes
	if fits {
		s.queued++
		s.bytes += r.size
		s.perApp[r.key]++
	}
	s.mu.Unlock()
	if !fits {
		s.logger.Warn("request refused, queue full", "type", m.Type)
		s.answer(r, h.fail(m, errBusy))
		return
	}
	s.in <- r // cannot block: the channel holds MaxQueued and queued counts what is in it or waiting behind it
}

// dequeued takes r off the queue's counts: it started, or was answered.
func (s *Service) dequeued(r *request) {
	s.mu.Lock()
	s.queued--
	s.bytes -= r.size
	if s.perApp[r.key]--; s.perApp[r.key] == 0 {
		delete(s.perApp, r.key)
	}
	s.mu.Unlock()
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

// Run executes queued requests until ctx ends, then waits for the running
// ones to finish. One worker runs per app at a time; requests that wait
// behind it past their deadline are answered "busy" on Run's timer.
func (s *Service) Run(ctx context.Context) error {
	s.init()
	waiting := make(map[string][]*request) // per app; present while a worker runs for it
	done := make(chan string)
	start := func(r *request) {
		s.dequeued(r)
		go func() {
			s.handle(ctx, r)
			done <- r.key
		}()
	}
	finish := func(key string) {
		if q := waiting[key]; len(q) > 0 {
			waiting[key] = q[1:]
			start(q[0])
			return
		}
		delete(waiting, key)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// The queues are in arrival order, so their heads are due first.
		var next time.Time
		for _, q := range waiting {
			if len(q) > 0 && (next.IsZero() || q[0].deadline.Before(next)) {
				next = q[0].deadline
			}
		}
		timer.Stop()
		var expire <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			expire = timer.C
		}
		select {
		case r := <-s.in:
			if q, busy := waiting[r.key]; busy {
				waiting[r.key] = append(q, r)
				continue
			}
			waiting[r.key] = nil
			start(r)
		case key := <-done:
			finish(key)
		case now := <-expire:
			for key, q := range waiting {
				for len(q) > 0 && !q[0].deadline.After(now) {
					s.dequeued(q[0])
					s.logger.Warn("request refused, waited too long behind this app's others", "type", q[0].m.Type)
					s.answer(q[0], q[0].h.fail(q[0].m, errBusy))
					q = q[1:]
				}
				waiting[key] = q
			}
		case <-ctx.Done():
			for len(waiting) > 0 {
				key := <-done
				// Requests not yet started are dropped at shutdown; their
				// askers time out as they would with the daemon stopped.
				for _, r := range waiting[key] {
					s.dequeued(r)
				}
				delete(waiting, key)
			}
			return nil
		}
	}
}

// orderKey is the app a request is about, so requests about one app run in
// order (a skill's oauth.register before its oauth.get).
func orderKey(m bus.Message) string {
	var ref struct {
		SkillID any `json:"skill_id"`
		AppID   any `json:"app_id"`
	}
	_ = m.DecodeData(&ref)
	k, _ := json.Marshal([]any{ref.SkillID, ref.AppID})
	return string(k)
}

// handle runs one request and sends its one reply by the request's
// deadline. A handler still running then is answered "busy"; it is waited
// for (its work, a refresh or an exchange, finishes and is stored) before
// the app's next request starts, and its result is dropped.
func (s *Service) handle(ctx context.Context, r *request) {
	m, h := r.m, r.h
	if !time.Now().Before(r.deadline) {
		s.answer(r, h.fail(m, errBusy))
		return
	}
	hctx, cancel := context.WithDeadline(ctx, r.deadline)
	defer cancel()
	out := make(chan bus.Message, 1)
	go func() {
		defer func() {
			// A bug in one handler must not take the daemon down, and the
			// asker still gets its one reply, and only one.
			if p := recover(); p != nil {
				s.logger.Error("request handler panicked", "type", m.Type, "panic", p)
				out <- h.fail(m, &oauth.Error{Code: oauth.CodeInternal, Description: "internal error"})
			}
		}()
		out <- h.run(s, hctx, m)
	}()
	timer := time.NewTimer(time.Until(r.deadline))
	defer timer.Stop()
	select {
	case reply := <-out:
		s.answer(r, reply)
		if h.then != nil {
			for _, ev := range h.then(s, m, reply) {
				s.emit(ev)
			}
		}
	case <-timer.C:
		s.logger.Warn("request answered busy, it took too long", "type", m.Type)
		s.answer(r, h.fail(m, errBusy))
		<-out
	}
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

// defaultSession is the context ovos-bus-client's own emits carry; without
// a session every Python MessageBusClient on the bus logs a warning for the
// frame.
var defaultSession = map[string]json.RawMessage{"session": json.RawMessage(`{"session_id":"default"}`)}

// emit sends an event. Events the daemon sends on its own (not answers to
// a request, which keep the request's context) get the default session.
func (s *Service) emit(m bus.Message) {
	if len(m.Context) == 0 {
		m.Context = defaultSession
	}
	if err := s.Sender.Send(m); err != nil {
		s.logger.Error("event not sent", "type", m.Type, "err", err)
	}
}
