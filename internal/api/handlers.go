package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/qr"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

// handler answers one request type. run does the work and returns the one
// reply; fail builds that same reply for an error found before run could
// (a full queue, a panic); then, if set, returns events that follow the
// reply. inline, if set, answers on the bus's read loop when it can do so
// without waiting for the disk, a provider or a lock held across either:
// it returns the reply and true, or false, and the request goes through
// the queue.
type handler struct {
	run    func(s *Service, ctx context.Context, m bus.Message) bus.Message
	fail   func(m bus.Message, err error) bus.Message
	then   func(s *Service, req, reply bus.Message) []bus.Message
	inline func(s *Service, m bus.Message) (bus.Message, bool)
}

var handlers = map[string]handler{
	wire.TypeRegister:     route(response, (*Service).register),
	wire.TypeGet:          route(replyAs(wire.TypeURL), (*Service).get),
	wire.TypeStart:        route(shellStart, (*Service).start),
	wire.TypeShellCreds:   route(shellStart, (*Service).credentials),
	wire.TypeRefresh:      route(response, (*Service).refresh),
	wire.TypeHostInfo:     routeInline(replyAs(wire.TypeHostInfoReply), (*Service).hostInfo, (*Service).hostInfo),
	wire.TypeQR:           route(replyAs(wire.TypeQRReply), (*Service).generateQR).followedBy((*Service).displayQR),
	wire.TypeShellForward: route(response, (*Service).forward),
	wire.TypeTokenGet:     routeInline(response, (*Service).tokenGet, (*Service).tokenInMemory),
	wire.TypeRevoke:       route(response, (*Service).revoke),
	wire.TypeUnregister:   route(response, (*Service).unregister),
	wire.TypeStatus:       route(response, (*Service).status),
}

// answer puts a reply's data in the message it goes out as. failed says
// whether it carries an error.
type answer func(req bus.Message, data any, failed bool) bus.Message

func response(req bus.Message, data any, _ bool) bus.Message { return req.Response(data) }

func replyAs(typ string) answer {
	return func(req bus.Message, data any, _ bool) bus.Message { return req.Reply(typ, data) }
}

// shellStart answers oauth.start and the credentials ovos-shell sends
// with what ovos-shell acts on: start.authentication opens its popup, with
// the credentials form (needs_credentials) or the login. A failure must not
// open a blank popup: it is the request's own ".response", which ovos-shell
// does not listen to, with the error for whoever asked.
func shellStart(req bus.Message, data any, failed bool) bus.Message {
	if failed {
		return req.Response(data)
	}
	return req.Forward(wire.TypeShellStart, data)
}

// replyPtr is a pointer to a reply type of package wire.
type replyPtr[R any] interface {
	*R
	wire.Failer
}

// route makes the handler of a request decoded as Q and answered with R:
// run fills the reply, which starts with the app the request named; the
// error it returns becomes the reply's error. A busy or failed reply has
// the same type, so the same fields, as a successful one.
func route[Q, R any, PR replyPtr[R]](send answer, run func(s *Service, ctx context.Context, req *Q, rep PR) error) handler {
	return handler{
		run: func(s *Service, ctx context.Context, m bus.Message) bus.Message {
			reply, _ := answerWith(s, ctx, m, send, run, false)
			return reply
		},
		fail: func(m bus.Message, err error) bus.Message {
			var req Q
			_ = m.DecodeData(&req) // as far as it goes: for the app reference
			rep := PR(new(R))
			echoRef(&req, rep)
			rep.SetError(oauth.ErrorCode(err), oauth.ErrorDescription(err))
			return send(m, rep, true)
		},
	}
}

// errQueue is what an inline handler returns for a request it cannot
// answer without waiting: the request goes through the queue.
var errQueue = errors.New("api: answered from the queue")

// routeInline is route, with inline, which returns errQueue where it
// would wait, answering on the read loop the requests it can. Both fill
// the same reply for the same request. Only successes are answered
// inline: a failure is logged, and the log is not for the read loop.
func routeInline[Q, R any, PR replyPtr[R]](send answer, run, inline func(s *Service, ctx context.Context, req *Q, rep PR) error) handler {
	h := route(send, run)
	h.inline = func(s *Service, m bus.Message) (bus.Message, bool) {
		// No context: an inline handler does nothing it could cancel.
		return answerWith(s, context.Background(), m, send, inline, true)
	}
	return h
}

// answerWith decodes m, runs run on it and returns the reply. With run an
// inline handler, it returns false instead for a request that failed or
// that run returned errQueue for.
func answerWith[Q, R any, PR replyPtr[R]](s *Service, ctx context.Context, m bus.Message, send answer, run func(s *Service, ctx context.Context, req *Q, rep PR) error, inline bool) (bus.Message, bool) {
	var req Q
	rep := PR(new(R))
	err := decode(m, &req)
	echoRef(&req, rep)
	if err == nil {
		err = run(s, ctx, &req, rep)
	}
	if inline && err != nil {
		return bus.Message{}, false
	}
	if err != nil {
		s.logFailure(m, err)
		rep.SetError(oauth.ErrorCode(err), oauth.ErrorDescription(err))
		return send(m, rep, true), true
	}
	return send(m, rep, false), true
}

// followedBy sets the events that follow a reply.
func (h handler) followedBy(then func(s *Service, req, reply bus.Message) []bus.Message) handler {
	h.then = then
	return h
}

// echoRef names in the reply the app the request named, as it named it
// (also an id that is not valid, which the reply refuses), so that a skill
// with several apps can tell which one an answer is about. A munged id is
// only made of valid ids.
func echoRef(req, rep any) {
	r, ok := req.(interface{ Ref() wire.AppRef })
	if !ok {
		return
	}
	if _, munged := rep.(*wire.RegisterReply); munged && !(oauth.ValidID(r.Ref().SkillID) && oauth.ValidID(r.Ref().AppID)) {
		return
	}
	if set, ok := rep.(interface{ SetRef(wire.AppRef) }); ok {
		set.SetRef(r.Ref())
	}
}

// decode reads a request's data into v, turning JSON type errors into a
// description that names the field.
func decode(m bus.Message, v any) error {
	if err := m.DecodeData(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return &oauth.Error{Code: oauth.CodeInvalidRequest, Description: fmt.Sprintf("%s must be a %s", te.Field, jsonKind(te.Type.Kind().String())), Err: err}
		}
		return &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "data is not valid for " + m.Type, Err: err}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "JSON object"
	case "slice":
		return "list"
	}
	return goKind
}

// logFailure logs errors that are ours, not the asker's.
func (s *Service) logFailure(m bus.Message, err error) {
	if oauth.ErrorCode(err) == oauth.CodeInternal {
		s.logger.Error("request failed", "type", m.Type, "err", err)
		return
	}
	s.logger.Info("request refused", "type", m.Type, "code", oauth.ErrorCode(err))
}

func (s *Service) register(ctx context.Context, req *wire.RegisterRequest, rep *wire.RegisterReply) error {
	res, err := s.engine.Register(ctx, oauth.Registration{
		SkillID:            req.SkillID,
		AppID:              req.AppID,
		ClientID:           req.ClientID,
		ClientSecret:       oauth.Secret(req.ClientSecret),
		AuthEndpoint:       req.AuthEndpoint,
		TokenEndpoint:      req.TokenEndpoint,
		DeviceEndpoint:     req.DeviceEndpoint,
		RevocationEndpoint: req.RevocationEndpoint,
		Scope:              string(req.Scope),
		ShellIntegration:   req.ShellIntegration == nil || *req.ShellIntegration,
		TokenAuth:          req.TokenAuth,
		PKCE:               req.PKCE == nil || *req.PKCE,
		AuthParams:         req.AuthParams,
		RedirectURI:        req.RedirectURI,
		Login:              req.Login,
		RelayURL:           req.RelayURL,
		ScopeSeparator:     req.ScopeSeparator,
		Provider:           req.Provider,
		InstanceURL:        req.InstanceURL,
	})
	if err != nil {
		return err
	}
	app, err := s.engine.App(req.SkillID, req.AppID)
	if err != nil {
		return err
	}
	*rep = wire.RegisterReply{
		MungedID:           app.MungedID(),
		ClientID:           nullable(app.ClientID),
		NeedsCreds:         app.NeedsCreds(),
		Login:              app.LoginMode(),
		RedirectURI:        s.engine.RedirectURI(app),
		TokenDropped:       res.TokenDropped,
		CredentialsDropped: res.CredentialsDropped,
		Warning:            s.engine.RelayWarning(app),
	}
	return nil
}

// deviceLogin is what a reply that opens a device login carries beside the
// address: what the user types there, so that a GUI can show it and a skill
// can speak it.
func deviceLogin(f *oauth.Flow) wire.DeviceLogin {
	if f.Kind != oauth.FlowDevice {
		return wire.DeviceLogin{}
	}
	return wire.DeviceLogin{
		UserCode:                f.UserCode,
		VerificationURI:         f.VerificationURI,
		VerificationURIComplete: f.VerificationURIComplete,
		ExpiresIn:               int64(time.Until(f.Expires).Round(time.Second).Seconds()),
		Interval:                int64(f.Interval.Seconds()),
	}
}

// nullable gives JSON null for "", as upstream sends None.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Service) get(ctx context.Context, req *wire.AppRef, rep *wire.URLReply) error {
	f, err := s.startOrSetUp(ctx, *req)
	if err != nil {
		return err
	}
	url, link := f.UserURL(), s.link(f)
	if f.Kind == oauth.FlowSetup {
		url = link
	}
	rep.URL, rep.Link, rep.DeviceLogin = &url, &link, deviceLogin(f)
	rep.NeedsCredentials = f.Kind == oauth.FlowSetup
	return nil
}

// startOrSetUp opens the app's login, or for an app without a client id
// a setup: its link leads to the page that takes the client id and goes on
// into the login, so that a QR code is all a phone needs either way.
func (s *Service) startOrSetUp(ctx context.Context, req wire.AppRef) (*oauth.Flow, error) {
	f, _, err := s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	if oauth.ErrorCode(err) == oauth.CodeNeedsCredentials {
		f, _, err = s.engine.StartSetup(ctx, req.SkillID, req.AppID)
	}
	return f, err
}

// link is what a QR code of the login carries: a device login's
// verification URI itself; for any other, and a setup, the short link,
// which leads to the provider (or, for a loopback login, to the page that
// explains how to finish it; for a setup, to the page that takes the
// client id).
func (s *Service) link(f *oauth.Flow) string {
	if f.Kind == oauth.FlowDevice {
		return f.UserURL()
	}
	return s.engine.StartLink(f)
}

// start answers oauth.start for ovos-shell: the authorization URL for its
// browser, or needs_credentials so that it asks the user for them first.
func (s *Service) start(ctx context.Context, req *wire.AppRef, rep *wire.StartAuthentication) error {
	return s.openLogin(ctx, *req, rep)
}

func (s *Service) openLogin(ctx context.Context, req wire.AppRef, rep *wire.StartAuthentication) error {
	f, app, err := s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	rep.NeedsCredentials = app != nil && app.NeedsCreds()
	if oauth.ErrorCode(err) == oauth.CodeNeedsCredentials {
		return nil // ovos-shell's credentials form, not a failure
	}
	if err != nil {
		return err
	}
	rep.URL, rep.DeviceLogin = f.UserURL(), deviceLogin(f)
	return nil
}

// credentials stores what the user typed in ovos-shell and goes on with the
// login as oauth.start does.
func (s *Service) credentials(ctx context.Context, req *wire.CredentialsRequest, rep *wire.StartAuthentication) error {
	if _, err := s.engine.SetCredentials(ctx, req.SkillID, req.AppID, req.ClientID, oauth.Secret(req.ClientSecret)); err != nil {
		return err
	}
	return s.openLogin(ctx, req.AppRef, rep)
}

func (s *Service) refresh(ctx context.Context, req *wire.AppRef, rep *wire.RefreshReply) error {
	app, tok, err := s.engine.Refresh(ctx, req.SkillID, req.AppID)
	if err != nil {
		return err
	}
	t := wireToken(tok, s.engine.Now())
	rep.Result, rep.ClientID, rep.Token = "Ok", &app.ClientID, &t
	return nil
}

func (s *Service) hostInfo(ctx context.Context, _ *struct{}, rep *wire.HostInfoReply) error {
	rep.Host, rep.Port = s.host, s.port
	return nil
}

// generateQR opens a login (or a setup, for an app without a client id)
// and renders its short link as a PNG. A device login's image also shows
// the address and the user code, which a person must type when the
// provider gave no complete verification URI, and check against the
// provider's page when it did; ovos-shell shows nothing but the image. The
// image is named at random: nothing from the request reaches a file name.
func (s *Service) generateQR(ctx context.Context, req *wire.AppRef, rep *wire.QRReply) error {
	f, err := s.startOrSetUp(ctx, *req)
	if err != nil {
		return err
	}
	var path string
	if f.Kind == oauth.FlowDevice {
		path, err = s.qr.WriteCaptioned(s.link(f), qr.Caption{Address: f.VerificationURI, Code: f.UserCode, Open: s.Text.Text(i18n.QRGoTo), Enter: s.Text.Text(i18n.QREnterCode)})
	} else {
		path, err = s.qr.Write(s.link(f))
	}
	if err != nil {
		return &oauth.Error{Code: oauth.CodeInternal, Description: "the QR code could not be written", Err: err}
	}
	// Upstream's reply has no url: the link is in the image.
	rep.QR, rep.DeviceLogin = &path, deviceLogin(f)
	rep.NeedsCredentials = f.Kind == oauth.FlowSetup
	return nil
}

// displayQR asks ovos-shell to show a QR code just generated, after the
// skill had its reply, for apps registered with shell_integration.
func (s *Service) displayQR(req, reply bus.Message) []bus.Message {
	var data wire.QRReply
	if reply.DecodeData(&data) != nil || data.Code != "" || data.QR == nil {
		return nil
	}
	app, err := s.engine.App(data.SkillID, data.AppID)
	if err != nil || !app.ShellIntegration {
		return nil
	}
	// The same fields as the reply: a device login's user code and
	// verification URI, for the GUI to show beside the image.
	return []bus.Message{req.Forward(wire.TypeShellDisplayQR, data)}
}

// forward finishes a login from the URL ovos-shell's browser landed on,
// exactly as the HTTP callback does: the token or the failure goes out as
// oauth.token.response.* or oauth.token.error.*; the reply says which.
func (s *Service) forward(ctx context.Context, req *wire.ForwardRequest, rep *wire.ForwardReply) error {
	if req.RedirectURL == "" {
		return &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "redirectURL is required"}
	}
	u, err := url.Parse(req.RedirectURL)
	if err != nil || len(req.RedirectURL) > 8192 || u.Scheme == "" || u.Host == "" {
		return &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "redirectURL is not an absolute URL"}
	}
	app, err := s.engine.App(req.SkillID, req.AppID)
	if err != nil {
		return err
	}
	landed := *u
	landed.RawQuery, landed.Fragment = "", ""
	_, err = s.engine.Complete(ctx, app.MungedID(), u.Query(), landed.String())
	if oauth.ErrorCode(err) == oauth.CodeNotAnAnswer {
		// ovos-shell forwards every URL its browser shows with "code" and
		// "state" in it, the authorization URL first: not a failure.
		s.logger.Debug("forward ignored: not the app's redirect URI", "skill_id", req.SkillID, "app_id", req.AppID)
		rep.Ignored, rep.Reason = true, oauth.ErrorDescription(err)
		return nil
	}
	rep.Authorized = err == nil
	return err
}

func (s *Service) tokenGet(ctx context.Context, req *wire.AppRef, rep *wire.TokenGetReply) error {
	_, tok, err := s.engine.Token(ctx, req.SkillID, req.AppID)
	if err != nil {
		return err
	}
	rep.Token = wireToken(tok, s.engine.Now())
	return nil
}

// tokenInMemory is tokenGet for a token the engine hands out from memory
// as it is: no disk, no refresh. Anything else, a failure too, is left to
// tokenGet, on the queue.
func (s *Service) tokenInMemory(_ context.Context, req *wire.AppRef, rep *wire.TokenGetReply) error {
	_, tok, ok := s.engine.TokenInMemory(req.SkillID, req.AppID)
	if !ok {
		return errQueue
	}
	rep.Token = wireToken(tok, s.engine.Now())
	return nil
}

func (s *Service) revoke(ctx context.Context, req *wire.AppRef, rep *wire.RevokeReply) error {
	r, err := s.engine.Revoke(ctx, req.SkillID, req.AppID)
	rep.Revoked, rep.Forgotten, rep.Reason = r.Revoked, r.Forgotten, r.Reason
	return err
}

func (s *Service) unregister(ctx context.Context, req *wire.AppRef, rep *wire.UnregisterReply) error {
	removed, err := s.engine.Unregister(ctx, req.SkillID, req.AppID)
	rep.Removed = removed
	return err
}

func (s *Service) status(ctx context.Context, req *wire.StatusRequest, rep *wire.StatusReply) error {
	rep.Apps, rep.Damaged = []wire.AppStatus{}, []wire.DamagedRecord{}
	apps, err := s.engine.Status(ctx, req.SkillID)
	if err != nil {
		return err
	}
	damaged, err := s.engine.Damaged(ctx, req.SkillID)
	if err != nil {
		return err
	}
	byApp := make(map[string][]wire.DamagedRecord)
	for _, d := range damaged {
		r := wire.DamagedRecord{MungedID: d.MungedID, Record: d.Record, Reason: d.Reason}
		if at := unixSeconds(d.At); at != nil {
			r.At = *at
		}
		byApp[d.MungedID] = append(byApp[d.MungedID], r)
	}
	for _, a := range apps {
		ds := byApp[a.MungedID]
		if ds == nil {
			ds = []wire.DamagedRecord{}
		}
		delete(byApp, a.MungedID)
		rep.Apps = append(rep.Apps, wire.AppStatus{
			MungedID: a.MungedID, SkillID: a.SkillID, AppID: a.AppID,
			NeedsCreds: a.NeedsCreds, Authorized: a.Authorized, ExpiresAt: unixSeconds(a.Expiry),
			NeedsReauth: a.NeedsReauth, Flow: nullable(string(a.Flow)),
			Login: a.Login, RedirectURI: a.RedirectURI, NextRefreshAt: unixSeconds(a.NextRefresh),
			LoginExpiresAt: unixSeconds(a.LoginExpiry), Damaged: ds,
		})
	}
	// The rest, of apps not registered now, in the order listed.
	for _, d := range damaged {
		if ds, ok := byApp[d.MungedID]; ok {
			rep.Damaged = append(rep.Damaged, ds...)
			delete(byApp, d.MungedID)
		}
	}
	return nil
}

// unixSeconds is t as a float of Unix seconds, as upstream's expires_at;
// nil for the zero time.
func unixSeconds(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	f := float64(t.UnixMicro()) / 1e6
	return &f
}
