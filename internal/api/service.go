// Package api maps the oauth.* messages of the OVOS bus to the flow engine.
// It decodes each request into a typed struct at the edge, runs it off the
// bus read loop, and answers every request exactly once, with the reply
// semantics of ovos-bus-client and an `error` where it failed.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

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

// Service answers the oauth.* requests and emits the oauth.* events. It
// implements bus.Handler and oauth.Events. Requests about one app run in
// the order they arrived; requests about different apps run concurrently.
type Service struct {
	// Sender carries replies and events; it must be set before Run.
	Sender Sender
	// MaxQueued bounds the requests waiting to run; past it a request is
	// answered at once with error "busy". Default 1024.
	MaxQueued int

	engine *oauth.Engine
	qr     QRWriter
	host   string
	port   int
	logger *slog.Logger

	initOnce sync.Once
	in       chan bus.Message
	mu       sync.Mutex
	queued   int
}

// New returns a service over engine. host and port are what
// oauth.get.app.host.info answers: the callback server as phones reach it.
func New(engine *oauth.Engine, qr QRWriter, host string, port int, logger *slog.Logger) *Service {
	return &Service{MaxQueued: 1024, engine: engine, qr: qr, host: host, port: port, logger: logger}
}

func (s *Service) init() {
	s.initOnce.Do(func() { s.in = make(chan bus.Message, s.MaxQueued) })
}

// Handles reports whether msgType is a request this service answers. It is
// called on every frame the bus relays, so it does no work beyond a switch.
// None of the types the service emits is a request: its own replies, which
// the bus relays back, are never taken for requests.
func (s *Service) Handles(msgType string) bool {
	_, ok := handlers[msgType]
	return ok
}

// Dispatch queues a request for Run and returns at once.
func (s *Service) Dispatch(m bus.Message) {
	h, ok := handlers[m.Type]
	if !ok {
		return
	}
	s.init()
	s.mu.Lock()
	full := s.queued >= s.MaxQueued
	if !full {
		s.queued++
	}
	s.mu.Unlock()
	if full {
		s.logger.Warn("request refused, queue full", "type", m.Type)
		s.reply(m, h.fail(m, &oauth.Error{Code: oauth.CodeBusy, Description: "ovos-oauth is busy; try again"}))
		return
	}
	s.in <- m // cannot block: the channel holds MaxQueued and queued counts what is in it or waiting behind it
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
	s.reply(m, h.fail(m, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "the message is not valid JSON, or its data is not an object", Err: err}))
}

// Run executes queued requests until ctx ends, then waits for the running
// ones to finish.
func (s *Service) Run(ctx context.Context) error {
	s.init()
	waiting := make(map[string][]bus.Message) // per app; present while a worker runs for it
	done := make(chan string)
	start := func(key string, m bus.Message) {
		go func() {
			s.handle(ctx, m)
			done <- key
		}()
	}
	finish := func(key string) {
		s.mu.Lock()
		s.queued--
		s.mu.Unlock()
		if q := waiting[key]; len(q) > 0 {
			waiting[key] = q[1:]
			start(key, q[0])
			return
		}
		delete(waiting, key)
	}
	for {
		select {
		case m := <-s.in:
			key := orderKey(m)
			if q, busy := waiting[key]; busy {
				waiting[key] = append(q, m)
				continue
			}
			waiting[key] = nil
			start(key, m)
		case key := <-done:
			finish(key)
		case <-ctx.Done():
			for len(waiting) > 0 {
				key := <-done
				// Requests not yet started are dropped at shutdown; their
				// askers time out as they would with the daemon stopped.
				waiting[key] = nil
				finish(key)
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

func (s *Service) handle(ctx context.Context, m bus.Message) {
	h, ok := handlers[m.Type]
	if !ok {
		return
	}
	replied := false
	defer func() {
		// A bug in one handler must not take the daemon down, and the asker
		// still gets its one reply, and only one.
		if r := recover(); r != nil {
			s.logger.Error("request handler panicked", "type", m.Type, "panic", r)
			if !replied {
				s.reply(m, h.fail(m, &oauth.Error{Code: oauth.CodeInternal, Description: "internal error"}))
			}
		}
	}()
	out := h.run(s, ctx, m)
	s.reply(m, out)
	replied = true
	if h.then != nil {
		for _, ev := range h.then(s, m, out) {
			s.emit(ev)
		}
	}
}

func (s *Service) reply(req bus.Message, out bus.Message) {
	if err := s.Sender.Send(out); err != nil {
		s.logger.Error("reply not sent", "type", out.Type, "request", req.Type, "err", err)
	}
}

func (s *Service) emit(m bus.Message) {
	if err := s.Sender.Send(m); err != nil {
		s.logger.Error("event not sent", "type", m.Type, "err", err)
	}
}
