// Package callback is the HTTP server phones talk to: the provider's
// redirect back to the device (/auth/callback/<munged_id>), the short login
// links QR codes carry (/auth/start/<flow_id>), the page where a loopback
// login's address is pasted back, and a health check. Every answer is a
// short human page, in the language of the server's Printer; none echoes a
// code, a state or a token, but the paste form, which gives the phone back
// what it pasted when that finished nothing, so that it can be corrected.
package callback

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/graceful"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Engine is what the server needs of the flow engine; *oauth.Engine is one.
type Engine interface {
	Complete(ctx context.Context, mungedID string, query url.Values, landed string) (*oauth.App, error)
	CompleteFlow(ctx context.Context, flowID, mungedID string, query url.Values, landed string) (*oauth.App, error)
	PendingFlow(ctx context.Context, flowID string) (*oauth.Flow, error)
	PendingSetup(ctx context.Context, flowID string) (*oauth.Setup, error)
	FinishSetup(ctx context.Context, flowID, key, clientID string, secret oauth.Secret) (*oauth.Flow, *oauth.App, error)
}

var _ Engine = (*oauth.Engine)(nil)

// maxURL bounds a request's URL; a provider's redirect is far shorter.
const maxURL = 8 << 10

// maxForm bounds the body of a paste: one URL and a little form encoding.
const maxForm = 16 << 10

// maxSetupForm bounds the body of a setup's form: a client id, a secret
// (each at most 2 KiB) and the setup's key.
const maxSetupForm = 8 << 10

// Server serves the callback endpoints. Its exported fields may be changed
// before Serve; it is safe for concurrent use once serving.
type Server struct {
	ReadHeaderTimeout time.Duration // default 5 s
	ReadTimeout       time.Duration // default 10 s
	// WriteTimeout must outlast a token exchange. Default 60 s.
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration // default 60 s
	MaxHeaderBytes int           // default 16 KiB
	// Health, if set, tells /healthz whether the daemon can do its work:
	// problem is empty when it can, else a sentence saying what is wrong
	// (the bus not attached, the store closed), answered with 503. Anyone
	// who reaches the port reads it, so it names no address, path or
	// setting: those belong in the log.
	Health func() (problem string)
	// ShutdownTimeout bounds the wait for requests in flight when Serve's
	// context ends: long enough for a token exchange in flight to finish
	// and be stored, as its single-use code cannot be sent again. Default
	// 40 s; requests that are not running end at once.
	ShutdownTimeout time.Duration
	// Printer is the language of the pages. Default English.
	Printer *i18n.Printer

	engine   Engine
	logger   *slog.Logger
	refusals rateGate
}

// New returns a server completing logins through engine.
func New(engine Engine, logger *slog.Logger) *Server {
	return &Server{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ShutdownTimeout:   40 * time.Second,
		Printer:           i18n.For(i18n.Fallback),
		engine:            engine,
		logger:            logger,
	}
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+oauth.CallbackPath+"{id}", s.handleCallback)
	mux.HandleFunc("GET "+oauth.StartPath+"{id}", s.handleStart)
	mux.HandleFunc("POST "+oauth.StartPath+"{id}", s.handlePost)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("/", s.handleOther)
	return s.guard(mux)
}

// Serve serves on ln until ctx ends, then shuts down gracefully with a
// fresh timeout. The caller opened ln, so a taken port fails start-up before
// anything else runs.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	return graceful.Serve(ctx, srv, ln, s.ShutdownTimeout)
}

// guard sets the headers every page carries and refuses oversized URLs.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		// The callback URL carries a code: nothing on the page may leak it
		// through a Referer, and the page loads nothing anyway.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		if len(r.RequestURI) > maxURL {
			s.page(w, http.StatusRequestURITooLong, s.simple(markFail, i18n.PageTooLongTitle, i18n.PageTooLongMessage, ""))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Only the query is read: the path names the app, the state ties the
	// answer to one login of it.
	app, err := s.engine.Complete(r.Context(), id, r.URL.Query(), "")
	if err != nil {
		s.logRefusal(r, err)
		s.errorPage(w, err)
		return
	}
	s.page(w, http.StatusOK, s.success(app))
}

// handleStart sends the phone on to the provider. A loopback login first
// gets a page: the provider will send the phone to 127.0.0.1, which on a
// phone is the phone, so the page explains that and takes the address the
// phone ended on. Its "Log in" link comes back here with ?login, so the
// page itself carries no state.
func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	f, err := s.engine.PendingFlow(r.Context(), r.PathValue("id"))
	if err != nil {
		s.logRefusal(r, err)
		s.errorPage(w, err)
		return
	}
	switch {
	case f.Kind == oauth.FlowSetup:
		st, err := s.engine.PendingSetup(r.Context(), f.ID)
		if err != nil {
			s.logRefusal(r, err)
			s.errorPage(w, err)
			return
		}
		s.setupPage(w, http.StatusOK, st, "", "")
		return
	case f.Kind == oauth.FlowLoopback && !r.URL.Query().Has("login"):
		s.pastePage(w, http.StatusOK, f, "", "")
		return
	}
	http.Redirect(w, r, f.AuthURL, http.StatusSeeOther)
}

// handlePost takes the form of a short link's page: a setup's client id,
// or a loopback login's pasted address. Only the page's own form may post
// here: another site's page could otherwise post credentials or an address
// of its choosing, or spend the user's.
func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) {
	if !fromOwnPage(r) {
		s.logRefusal(r, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "a form posted from another site"})
		s.page(w, http.StatusForbidden, s.simple(markFail, i18n.PageCrossSiteTitle, i18n.PageCrossSiteMessage, i18n.PageCrossSiteHint))
		return
	}
	f, ferr := s.engine.PendingFlow(r.Context(), r.PathValue("id"))
	switch {
	case ferr == nil && f.Kind == oauth.FlowSetup:
		s.handleSetup(w, r, f)
		return
	case errors.Is(ferr, oauth.ErrSetupDone):
		// Posted again: the page says the app is set up, the status that
		// this post saved nothing.
		s.logRefusal(r, ferr)
		_, p := s.failure(ferr)
		s.page(w, http.StatusConflict, p)
		return
	}
	s.handlePaste(w, r, f, ferr)
}

// handleSetup saves the client id and secret posted on a setup's page and
// goes straight on into the app's login: to the provider, to a loopback
// login's paste page, or to a page with a device login's code. What cannot
// be a client id brings the form back, the client id as typed, the secret
// never. Nothing posted is logged.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request, f *oauth.Flow) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSetupForm)
	if err := r.ParseForm(); err != nil {
		s.logRefusal(r, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "a setup form too large or malformed"})
		s.page(w, http.StatusRequestEntityTooLarge, s.simple(markFail, i18n.SetupTooLongTitle, i18n.SetupTooLongMessage, ""))
		return
	}
	clientID := strings.TrimSpace(r.PostForm.Get("client_id"))
	secret := oauth.Secret(strings.TrimSpace(r.PostForm.Get("client_secret")))
	login, _, err := s.engine.FinishSetup(r.Context(), f.ID, r.PostForm.Get("setup"), clientID, secret)
	switch {
	case errors.Is(err, oauth.ErrCredentials):
		st, serr := s.engine.PendingSetup(r.Context(), f.ID)
		if serr != nil {
			s.logRefusal(r, serr)
			s.errorPage(w, serr)
			return
		}
		problem := i18n.SetupProblemInvalid
		if clientID == "" {
			problem = i18n.SetupProblemEmpty
		}
		s.setupPage(w, http.StatusBadRequest, st, s.Printer.Text(problem), clientID)
		return
	case errors.Is(err, oauth.ErrSetupForm):
		s.logRefusal(r, err)
		s.page(w, http.StatusForbidden, s.simple(markFail, i18n.SetupStaleTitle, i18n.SetupStaleMessage, ""))
		return
	case err != nil:
		s.logRefusal(r, err)
		status, p := s.failure(err)
		if status < 400 {
			status = http.StatusConflict // it saved nothing
		}
		s.page(w, status, p)
		return
	}
	switch login.Kind {
	case oauth.FlowDevice:
		s.devicePage(w, login)
	case oauth.FlowLoopback:
		http.Redirect(w, r, oauth.StartPath+login.ID, http.StatusSeeOther)
	default:
		http.Redirect(w, r, login.AuthURL, http.StatusSeeOther)
	}
}

// handlePaste finishes a loopback login from the address the user pasted,
// with every check of the callback: the state must be a live one of this
// page's own login, the address its redirect URI. f is the link's login,
// or ferr what became of it. A paste that finishes nothing while the login
// is still open brings the form back, with what was pasted and what is
// wrong with it; a login that is over says so.
func (s *Server) handlePaste(w http.ResponseWriter, r *http.Request, f *oauth.Flow, ferr error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.page(w, http.StatusRequestEntityTooLarge, s.simple(markFail, i18n.PageTooLongTitle, i18n.PageTooLongMessage, ""))
		return
	}
	id := r.PathValue("id")
	pasted := strings.TrimSpace(r.PostForm.Get("url"))
	// refuse answers a paste that ends nothing: on the form while the
	// login is open, else with what became of the login.
	refuse := func(err error, problem string) {
		s.logRefusal(r, err)
		if ferr != nil {
			s.errorPage(w, ferr)
			return
		}
		s.pastePage(w, http.StatusBadRequest, f, problem, pasted)
	}
	u, err := url.Parse(pasted)
	if pasted == "" || err != nil || u.Scheme == "" || u.Host == "" || !strings.HasPrefix(u.Path, oauth.CallbackPath) {
		err := &oauth.Error{Code: oauth.CodeNotAnAnswer, Description: "not the address the phone ended on after the login"}
		problem := s.Printer.Text(i18n.PasteProblemEmpty)
		if pasted != "" && ferr == nil {
			problem = s.Printer.Text(i18n.PasteProblemNotAddress, "address", f.RedirectURI)
		}
		refuse(err, problem)
		return
	}
	mungedID := strings.TrimPrefix(u.Path, oauth.CallbackPath)
	if ferr == nil && mungedID != f.MungedID {
		refuse(&oauth.Error{Code: oauth.CodeInvalidState, Description: "the address of another app's login"}, s.Printer.Text(i18n.PasteProblemOtherApp))
		return
	}
	landed := *u
	landed.RawQuery, landed.Fragment = "", ""
	app, err := s.engine.CompleteFlow(r.Context(), id, mungedID, u.Query(), landed.String())
	if err != nil {
		// The engine spends a login only for an answer that may end it:
		// one that did not leaves it open, for the right address.
		if _, still := s.engine.PendingFlow(r.Context(), id); ferr == nil && still == nil {
			refuse(err, s.pasteProblem(err, f))
			return
		}
		s.logRefusal(r, err)
		s.errorPage(w, err)
		return
	}
	s.page(w, http.StatusOK, s.success(app))
}

// pasteProblem says what is wrong with a pasted address that the engine
// refused without ending the login.
func (s *Server) pasteProblem(err error, f *oauth.Flow) string {
	t := s.Printer
	switch code := oauth.ErrorCode(err); {
	case errors.Is(err, oauth.ErrOtherLogin):
		return t.Text(i18n.PasteProblemOtherLogin)
	case code == oauth.CodeNotAnAnswer:
		return t.Text(i18n.PasteProblemNotAddress, "address", f.RedirectURI)
	case code == oauth.CodeInvalidState || code == oauth.CodeInvalidRequest:
		return t.Text(i18n.PasteProblemIncomplete)
	case code == oauth.CodeProviderUnavailable || code == oauth.CodeInternal:
		return t.Text(i18n.PasteProblemRetry)
	}
	return t.Text(i18n.PasteProblemNotTaken)
}

// fromOwnPage reports whether a POST may come from the server's own page,
// by what the browser says of where it comes from: Sec-Fetch-Site, which
// every current browser sends and no page can set, must say same-origin
// (or none: the user's own doing); an Origin, where sent, must be this
// server's. "null" passes only beside Sec-Fetch-Site same-origin: a page
// under a no-referrer policy sends it for its own posts. A POST with
// neither header is taken: no browser sent it for another site's page.
func fromOwnPage(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	switch site {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return true
	case origin == "null":
		return site == "same-origin"
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.Health != nil {
		if problem := s.Health(); problem != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(problem + "\n"))
			return
		}
	}
	w.Write([]byte("ok\n"))
}

func (s *Server) handleOther(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.page(w, http.StatusMethodNotAllowed, s.simple(markFail, i18n.PageMethodTitle, i18n.PageMethodMessage, ""))
		return
	}
	s.page(w, http.StatusNotFound, s.simple(markFail, i18n.PageNotFoundTitle, i18n.PageNotFoundMessage, i18n.PageNotFoundHint))
}

func (s *Server) logRefusal(r *http.Request, err error) {
	if oauth.ErrorCode(err) == oauth.CodeInternal {
		s.logger.Error("callback failed", append(logPath(r), "err", err)...)
		return
	}
	// Anyone on the LAN can send refused requests by the thousand: they
	// are logged at most once per refusalEvery, with how many were not.
	if suppressed, ok := s.refusals.allow(time.Now()); ok {
		s.logger.Info("callback refused", append(logPath(r), "code", oauth.ErrorCode(err), "not_logged_since", suppressed)...)
	}
}

// logPath is how a request's address is logged: the path without its
// query, which holds the code; of a short link, not the flow id, which
// opens the login, but its tag.
func logPath(r *http.Request) []any {
	if id, ok := strings.CutPrefix(r.URL.Path, oauth.StartPath); ok {
		return []any{"path", oauth.StartPath, "flow", oauth.FlowTag(id)}
	}
	return []any{"path", r.URL.Path}
}

// refusalEvery is how often a refused request is logged at most.
const refusalEvery = 10 * time.Second

// rateGate lets one event through per refusalEvery and counts the others.
type rateGate struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether an event at now may be logged, and how many were
// held back since the last one that was.
func (g *rateGate) allow(now time.Time) (suppressed int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() && now.Sub(g.last) < refusalEvery {
		g.suppressed++
		return 0, false
	}
	suppressed, g.suppressed, g.last = g.suppressed, 0, now
	return suppressed, true
}
