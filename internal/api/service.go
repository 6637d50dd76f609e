// Package api maps the oauth.* messages of the OVOS bus to the flow engine.
// It decodes each request into a typed struct at the edge, runs it off the
// bus read loop (but for the few it answers there, from memory), and
// answers every request exactly once, with the reply semantics of
// ovos-bus-client and an `error` where it failed.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
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

// nowSender is a Sender that can also write a message on the caller's
// goroutine, never waiting, when nothing else waits to be written:
// bus.Client's SendNow. The replies the service answers on the read loop
// go out so.
type nowSender interface {
	SendNow(bus.Message) error
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

// Service answers the oauth.* requests; it is the daemon's bus.Handler.
// Requests about one app run in
// the order they arrived; requests about different apps run concurrently,
// so a slow provider or a flood of requests for one app delays only that
// app. Every request gets its one reply within ReplyWithin: the answer, or
// "busy" when it could not be run in time.
type Service struct {
	// MaxQueued bounds the requests waiting to run, MaxQueuedPerApp those
	// of one app, and MaxQueuedBytes the bytes they hold; past any of them
	// a request is answered at once with error "busy". Defaults 1024, 64
	// and 16 MiB. They and ReplyWithin are read at the first Dispatch or
	// Run, whichever comes first.
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
	sender Sender
	qr     QRWriter
	host   string
	port   int
	logger *slog.Logger

	queueOnce sync.Once
	queue     *queue
}

// New returns a service over engine that sends its replies with sender.
// host and port are what oauth.get.app.host.info answers: the callback
// server as phones reach it.
func New(engine *oauth.Engine, sender Sender, qr QRWriter, host string, port int, logger *slog.Logger) *Service {
	return &Service{
		MaxQueued: 1024, MaxQueuedPerApp: 64, MaxQueuedBytes: 16 << 20, ReplyWithin: 2500 * time.Millisecond,
		Text:   i18n.For("en"),
		engine: engine, sender: sender, qr: qr, host: host, port: port, logger: logger,
	}
}

// requests returns the service's queue, made on first use.
func (s *Service) requests() *queue {
	s.queueOnce.Do(func() {
		s.queue = newQueue(s.MaxQueued, s.MaxQueuedPerApp, s.MaxQueuedBytes, s.ReplyWithin, s.serve, s.busy)
	})
	return s.queue
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
// at once; one dispatched after Run's context ended is dropped. A request
// that can be answered without waiting (oauth.get.app.host.info; an
// oauth.token.get whose token is in memory and not due for a refresh) is
// answered before Dispatch returns, if no request of its app runs or
// waits.
func (s *Service) Dispatch(m bus.Message) {
	h, ok := handlers[m.Type]
	if !ok {
		return
	}
	r := &request{m: m, h: h, key: orderKey(m), size: messageSize(m), arrived: time.Now()}
	if h.inline != nil && s.answerInline(r) {
		return
	}
	s.requests().push(r)
}

// answerInline answers r on the caller's goroutine, the bus's read loop,
// if its handler can without waiting and no request of its app runs or
// waits (r would pass them); it reports whether it did. The reply then
// goes out with no hand-over to a worker goroutine or to the bus's writer:
// at concurrency 1, those hand-overs and their wake-ups were most of the
// daemon's CPU on such a request.
func (s *Service) answerInline(r *request) bool {
	if !s.requests().quiet(r.key) {
		return false
	}
	reply, ok := s.callInline(r)
	if !ok {
		return false
	}
	s.observe(r, reply)
	send := s.sender.Send
	if now, ok := s.sender.(nowSender); ok {
		send = now.SendNow
	}
	if err := send(reply); err != nil {
		s.logger.Error("reply not sent", "type", reply.Type, "request", r.m.Type, "err", err)
	}
	if r.h.then != nil {
		for _, ev := range r.h.then(s, r.m, reply) {
			s.emit(ev)
		}
	}
	return true
}

// callInline is call for r's inline handler; false if it cannot answer
// without waiting.
func (s *Service) callInline(r *request) (reply bus.Message, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("request handler panicked", "type", r.m.Type, "panic", p)
			reply, ok = r.h.fail(r.m, &oauth.Error{Code: oauth.CodeInternal, Description: "internal error"}), true
		}
	}()
	return r.h.inline(s, r.m)
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
	s.respond(&request{m: m, arrived: time.Now()}, h.fail(m, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "the message is not valid JSON, or its data is not an object", Err: err}))
}

// Run lets requests run until ctx ends (those dispatched before it wait
// for it), then drops the ones still waiting, cancels the running ones'
// context and waits for them to finish. One request runs per app at a
// time; requests that wait behind it past their deadline are answered
// "busy".
func (s *Service) Run(ctx context.Context) error {
	return s.requests().Run(ctx)
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
	if m.DecodeData(&raw) == nil {
		switch {
		case plainString(raw.SkillID) && plainString(raw.AppID):
			return string(raw.SkillID) + "," + string(raw.AppID)
		case isNull(raw.SkillID) && isNull(raw.AppID):
			// No app (oauth.get.app.host.info): what the re-encoding
			// below gives, without it.
			return noApp
		}
	}
	var ref struct {
		SkillID any `json:"skill_id"`
		AppID   any `json:"app_id"`
	}
	_ = m.DecodeData(&ref)
	k, _ := json.Marshal([]any{ref.SkillID, ref.AppID})
	return string(k)
}

// noApp is the key of the requests that name no app.
const noApp = "[null,null]"

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

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

// serve runs r's handler and returns what sends its reply and the events
// that follow it.
func (s *Service) serve(ctx context.Context, r *request) (send func()) {
	reply := s.call(ctx, r)
	return func() {
		s.respond(r, reply)
		if r.h.then != nil {
			for _, ev := range r.h.then(s, r.m, reply) {
				s.emit(ev)
			}
		}
	}
}

// call runs r's handler and returns its reply. A bug in one handler must
// not take the daemon down, and the asker still gets its one reply.
func (s *Service) call(ctx context.Context, r *request) (reply bus.Message) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("request handler panicked", "type", r.m.Type, "panic", p)
			reply = r.h.fail(r.m, &oauth.Error{Code: oauth.CodeInternal, Description: "internal error"})
		}
	}()
	return r.h.run(s, ctx, r.m)
}

// busy answers r "busy", saying why in the log.
func (s *Service) busy(r *request, why string) {
	s.logger.Warn(why, "type", r.m.Type)
	s.respond(r, r.h.fail(r.m, errBusy))
}

// respond sends the one reply to r, telling the Observer first.
func (s *Service) respond(r *request, out bus.Message) {
	s.observe(r, out)
	if err := s.sender.Send(out); err != nil {
		s.logger.Error("reply not sent", "type", out.Type, "request", r.m.Type, "err", err)
	}
}

// observe tells the Observer, if any, of r's reply.
func (s *Service) observe(r *request, out bus.Message) {
	if s.Observer != nil {
		s.Observer.Request(r.m.Type, outcome(out), time.Since(r.arrived))
	}
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

// emit sends a message that follows a reply (a handler's then).
func (s *Service) emit(m bus.Message) {
	if err := s.sender.Send(m); err != nil {
		s.logger.Error("event not sent", "type", m.Type, "err", err)
	}
}
