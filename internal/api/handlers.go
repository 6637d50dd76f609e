package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// Request and reply types. The first group is the upstream plugin's
// contract, kept exactly; the second is what ovos-oauth adds.
const (
	TypeRegister        = "oauth.register"
	TypeGet             = "oauth.get"
	TypeURL             = "oauth.url"
	TypeStart           = "oauth.start"
	TypeShellStart      = "ovos.shell.oauth.start.authentication"
	TypeShellCreds      = "ovos.shell.oauth.register.credentials"
	TypeShellForward    = "ovos.shell.oauth.authentication.forward"
	TypeShellDisplayQR  = "ovos.shell.oauth.display.qr.code"
	TypeRefresh         = "oauth.refresh"
	TypeHostInfo        = "oauth.get.app.host.info"
	TypeHostInfoReply   = "oauth.app.host.info.response"
	TypeQR              = "oauth.generate.qr.request"
	TypeQRReply         = "oauth.generate.qr.response"
	TypePing            = "oauth.ping"
	PrefixTokenResponse = "oauth.token.response."

	TypeTokenGet         = "oauth.token.get"
	TypeRevoke           = "oauth.revoke"
	TypeUnregister       = "oauth.unregister"
	TypeStatus           = "oauth.status"
	PrefixTokenRefreshed = "oauth.token.refreshed."
	PrefixReauthRequired = "oauth.reauth.required."
	PrefixTokenError     = "oauth.token.error."
)

// handler answers one request type. run does the work and returns the one
// reply; fail builds that same reply for an error found before run could
// (a full queue, a panic); then, if set, returns events that follow the
// reply.
type handler struct {
	run  func(s *Service, ctx context.Context, m bus.Message) bus.Message
	fail func(m bus.Message, err error) bus.Message
	then func(s *Service, req, reply bus.Message) []bus.Message
}

var handlers = map[string]handler{
	TypeRegister:     {(*Service).register, responseFail, nil},
	TypeGet:          {(*Service).get, replyFail(TypeURL), nil},
	TypeStart:        {(*Service).start, responseFail, nil},
	TypeShellCreds:   {(*Service).credentials, responseFail, nil},
	TypeRefresh:      {(*Service).refresh, refreshFail, nil},
	TypeHostInfo:     {(*Service).hostInfo, replyFail(TypeHostInfoReply), nil},
	TypeQR:           {(*Service).generateQR, qrFail, (*Service).displayQR},
	TypeShellForward: {(*Service).forward, responseFail, nil},
	TypeTokenGet:     {(*Service).tokenGet, responseFail, nil},
	TypeRevoke:       {(*Service).revoke, responseFail, nil},
	TypeUnregister:   {(*Service).unregister, responseFail, nil},
	TypeStatus:       {(*Service).status, responseFail, nil},
}

// appRef names an app in a request.
type appRef struct {
	SkillID string `json:"skill_id"`
	AppID   string `json:"app_id"`
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

// errFields is what every failed reply carries.
func errFields(err error) map[string]any {
	return map[string]any{"error": oauth.ErrorCode(err), "error_description": oauth.ErrorDescription(err)}
}

func withErr(data map[string]any, err error) map[string]any {
	for k, v := range errFields(err) {
		data[k] = v
	}
	return data
}

// responseFail is the failed .response of a request, naming the app it was
// about where the request did, so that a skill with several apps can tell
// which one was refused.
func responseFail(m bus.Message, err error) bus.Message {
	data := errFields(err)
	var req appRef
	if m.DecodeData(&req) == nil && oauth.ValidID(req.SkillID) && oauth.ValidID(req.AppID) {
		data["skill_id"], data["app_id"] = req.SkillID, req.AppID
	}
	return m.Response(data)
}

func replyFail(typ string) func(bus.Message, error) bus.Message {
	return func(m bus.Message, err error) bus.Message { return m.Reply(typ, errFields(err)) }
}

// logFailure logs errors that are ours, not the asker's.
func (s *Service) logFailure(m bus.Message, err error) {
	if oauth.ErrorCode(err) == oauth.CodeInternal {
		s.logger.Error("request failed", "type", m.Type, "err", err)
		return
	}
	s.logger.Info("request refused", "type", m.Type, "code", oauth.ErrorCode(err))
}

// scopeField accepts the space-separated string of the contract, and a
// list of strings as some skills send.
type scopeField string

func (f *scopeField) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = scopeField(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &json.UnmarshalTypeError{Value: "scope", Type: stringType, Field: "scope"}
	}
	*f = scopeField(strings.Join(list, " "))
	return nil
}

var stringType = reflect.TypeFor[string]()

type registerRequest struct {
	appRef
	ClientID           string            `json:"client_id"`
	ClientSecret       string            `json:"client_secret"`
	AuthEndpoint       string            `json:"auth_endpoint"`
	TokenEndpoint      string            `json:"token_endpoint"`
	Scope              scopeField        `json:"scope"`
	ShellIntegration   *bool             `json:"shell_integration"`
	RefreshEndpoint    any               `json:"refresh_endpoint"` // deprecated upstream, ignored
	DeviceEndpoint     string            `json:"device_endpoint"`
	RevocationEndpoint string            `json:"revocation_endpoint"`
	TokenAuth          string            `json:"token_auth"`
	PKCE               *bool             `json:"pkce"`
	AuthParams         map[string]string `json:"auth_params"`
	RedirectURI        string            `json:"redirect_uri"`
	Login              string            `json:"login"`
	RelayURL           string            `json:"relay_url"`
	ScopeSeparator     string            `json:"scope_separator"`
	Provider           string            `json:"provider"`
	InstanceURL        string            `json:"instance_url"`
}

func (s *Service) register(ctx context.Context, m bus.Message) bus.Message {
	var req registerRequest
	err := decode(m, &req)
	if err == nil {
		_, err = s.engine.Register(ctx, oauth.Registration{
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
	}
	if err != nil {
		s.logFailure(m, err)
		data := errFields(err)
		if oauth.ValidID(req.SkillID) && oauth.ValidID(req.AppID) {
			data["munged_id"] = oauth.MungedID(req.SkillID, req.AppID)
		}
		return m.Response(data)
	}
	app, err := s.engine.App(req.SkillID, req.AppID)
	if err != nil {
		s.logFailure(m, err)
		return m.Response(errFields(err))
	}
	return m.Response(map[string]any{
		"munged_id":    app.MungedID(),
		"client_id":    nullable(app.ClientID),
		"needs_creds":  app.NeedsCreds(),
		"login":        app.LoginMode(),
		"redirect_uri": s.engine.RedirectURI(app),
	})
}

// loginFields is what a reply that opens a login carries: the address the
// user opens and, for a device login, what the user types there, so that a
// GUI can show it and a skill can speak it.
func loginFields(data map[string]any, f *oauth.Flow) map[string]any {
	data["url"] = f.UserURL()
	if f.Kind == oauth.FlowDevice {
		data["user_code"] = f.UserCode
		data["verification_uri"] = f.VerificationURI
		if f.VerificationURIComplete != "" {
			data["verification_uri_complete"] = f.VerificationURIComplete
		}
		data["expires_in"] = int64(time.Until(f.Expires).Round(time.Second).Seconds())
		data["interval"] = int64(f.Interval.Seconds())
	}
	return data
}

// nullable gives JSON null for "", as upstream sends None.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) get(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	var f *oauth.Flow
	if err == nil {
		f, _, err = s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	}
	if err != nil {
		s.logFailure(m, err)
		return m.Reply(TypeURL, withErr(map[string]any{"url": nil, "skill_id": req.SkillID, "app_id": req.AppID}, err))
	}
	return m.Reply(TypeURL, loginFields(map[string]any{"skill_id": req.SkillID, "app_id": req.AppID}, f))
}

// start answers oauth.start for ovos-shell: the authorization URL for its
// browser, or needs_credentials so that it asks the user for them first.
func (s *Service) start(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	var f *oauth.Flow
	var app *oauth.App
	if err == nil {
		f, app, err = s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	}
	return s.startReply(m, req, f, app, err)
}

// startReply answers oauth.start and the credentials ovos-shell sends with
// what ovos-shell acts on: start.authentication opens its popup, with the
// credentials form (needs_credentials) or the login. A failure must not
// open a blank popup: it is the request's own ".response", which ovos-shell
// does not listen to, with the error for whoever asked.
func (s *Service) startReply(m bus.Message, req appRef, f *oauth.Flow, app *oauth.App, err error) bus.Message {
	data := map[string]any{"url": "", "skill_id": req.SkillID, "app_id": req.AppID, "needs_credentials": app != nil && app.NeedsCreds()}
	if oauth.ErrorCode(err) == oauth.CodeNeedsCredentials {
		return m.Forward(TypeShellStart, data)
	}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(data, err))
	}
	return m.Forward(TypeShellStart, loginFields(data, f))
}

type credentialsRequest struct {
	appRef
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// credentials stores what the user typed in ovos-shell and goes on with the
// login as oauth.start does.
func (s *Service) credentials(ctx context.Context, m bus.Message) bus.Message {
	var req credentialsRequest
	err := decode(m, &req)
	if err == nil {
		_, err = s.engine.SetCredentials(ctx, req.SkillID, req.AppID, req.ClientID, oauth.Secret(req.ClientSecret))
	}
	var f *oauth.Flow
	var app *oauth.App
	if err == nil {
		f, app, err = s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	}
	return s.startReply(m, req.appRef, f, app, err)
}

func (s *Service) refresh(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	var app *oauth.App
	var tok *oauth.Token
	if err == nil {
		app, tok, err = s.engine.Refresh(ctx, req.SkillID, req.AppID)
	}
	if err != nil {
		s.logFailure(m, err)
		return refreshFail(m, err)
	}
	return m.Response(map[string]any{"result": "Ok", "client_id": app.ClientID, "token": tok.BusFields()})
}

func refreshFail(m bus.Message, err error) bus.Message {
	return m.Response(withErr(map[string]any{"result": "Error"}, err))
}

func (s *Service) hostInfo(ctx context.Context, m bus.Message) bus.Message {
	return m.Reply(TypeHostInfoReply, map[string]any{"host": s.host, "port": s.port})
}

// generateQR opens a login and renders its short link as a PNG. The image
// is named at random: nothing from the request reaches a file name.
func (s *Service) generateQR(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	var f *oauth.Flow
	if err == nil {
		f, _, err = s.engine.StartFlow(ctx, req.SkillID, req.AppID)
	}
	var path string
	if err == nil {
		// A device login's code is the verification URI itself; any other
		// carries the short link, which leads to the provider (or, for a
		// loopback login, to the page that explains how to finish it).
		link := s.engine.StartLink(f)
		if f.Kind == oauth.FlowDevice {
			link = f.UserURL()
		}
		path, err = s.qr.Write(link)
		if err != nil {
			err = &oauth.Error{Code: oauth.CodeInternal, Description: "the QR code could not be written", Err: err}
		}
	}
	if err != nil {
		s.logFailure(m, err)
		return qrFail(m, err)
	}
	data := loginFields(map[string]any{"skill_id": req.SkillID, "app_id": req.AppID, "qr": path}, f)
	delete(data, "url") // upstream's reply has none; the link is in the image
	return m.Reply(TypeQRReply, data)
}

// displayQR asks ovos-shell to show a QR code just generated, after the
// skill had its reply, for apps registered with shell_integration.
func (s *Service) displayQR(req, reply bus.Message) []bus.Message {
	var data map[string]any
	if reply.DecodeData(&data) != nil || data["error"] != nil || data["qr"] == nil {
		return nil
	}
	skillID, _ := data["skill_id"].(string)
	appID, _ := data["app_id"].(string)
	app, err := s.engine.App(skillID, appID)
	if err != nil || !app.ShellIntegration {
		return nil
	}
	// The same fields as the reply: a device login's user code and
	// verification URI, for the GUI to show beside the image.
	return []bus.Message{req.Forward(TypeShellDisplayQR, data)}
}

func qrFail(m bus.Message, err error) bus.Message {
	var req appRef
	_ = m.DecodeData(&req)
	return m.Reply(TypeQRReply, withErr(map[string]any{"skill_id": req.SkillID, "app_id": req.AppID, "qr": nil}, err))
}

type forwardRequest struct {
	appRef
	RedirectURL string `json:"redirectURL"`
}

// forward finishes a login from the URL ovos-shell's browser landed on,
// exactly as the HTTP callback does: the token or the failure goes out as
// oauth.token.response.* or oauth.token.error.*; the reply says which.
func (s *Service) forward(ctx context.Context, m bus.Message) bus.Message {
	var req forwardRequest
	err := decode(m, &req)
	var u *url.URL
	if err == nil {
		if req.RedirectURL == "" {
			err = &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "redirectURL is required"}
		} else if u, err = url.Parse(req.RedirectURL); err != nil || len(req.RedirectURL) > 8192 || u.Scheme == "" || u.Host == "" {
			err = &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "redirectURL is not an absolute URL"}
		}
	}
	if err == nil {
		var app *oauth.App
		if app, err = s.engine.App(req.SkillID, req.AppID); err == nil {
			landed := *u
			landed.RawQuery, landed.Fragment = "", ""
			_, _, err = s.engine.Complete(ctx, app.MungedID(), u.Query(), landed.String())
		}
	}
	data := map[string]any{"skill_id": req.SkillID, "app_id": req.AppID, "authorized": err == nil}
	if oauth.ErrorCode(err) == oauth.CodeNotAnAnswer {
		// ovos-shell forwards every URL its browser shows with "code" and
		// "state" in it, the authorization URL first: not a failure.
		s.logger.Debug("forward ignored: not the app's redirect URI", "skill_id", req.SkillID, "app_id", req.AppID)
		data["ignored"] = true
		data["reason"] = oauth.ErrorDescription(err)
		return m.Response(data)
	}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(data, err))
	}
	return m.Response(data)
}

func (s *Service) tokenGet(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	var tok *oauth.Token
	if err == nil {
		_, tok, err = s.engine.Token(ctx, req.SkillID, req.AppID)
	}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(map[string]any{"skill_id": req.SkillID, "app_id": req.AppID}, err))
	}
	data := tok.BusFields()
	data["skill_id"], data["app_id"] = req.SkillID, req.AppID
	return m.Response(data)
}

func (s *Service) revoke(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	revoked := false
	if err == nil {
		revoked, err = s.engine.Revoke(ctx, req.SkillID, req.AppID)
	}
	data := map[string]any{"skill_id": req.SkillID, "app_id": req.AppID, "revoked": revoked}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(data, err))
	}
	return m.Response(data)
}

func (s *Service) unregister(ctx context.Context, m bus.Message) bus.Message {
	var req appRef
	err := decode(m, &req)
	removed := false
	if err == nil {
		removed, err = s.engine.Unregister(ctx, req.SkillID, req.AppID)
	}
	data := map[string]any{"skill_id": req.SkillID, "app_id": req.AppID, "removed": removed}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(data, err))
	}
	return m.Response(data)
}

func (s *Service) status(ctx context.Context, m bus.Message) bus.Message {
	var req struct {
		SkillID string `json:"skill_id"`
	}
	err := decode(m, &req)
	var apps []oauth.AppStatus
	if err == nil {
		apps, err = s.engine.Status(ctx, req.SkillID)
	}
	if err != nil {
		s.logFailure(m, err)
		return m.Response(withErr(map[string]any{"apps": []any{}}, err))
	}
	list := make([]map[string]any, 0, len(apps))
	for _, a := range apps {
		var expiresAt any
		if !a.Expiry.IsZero() {
			expiresAt = float64(a.Expiry.UnixMicro()) / 1e6
		}
		list = append(list, map[string]any{
			"munged_id": a.MungedID, "skill_id": a.SkillID, "app_id": a.AppID,
			"needs_creds": a.NeedsCreds, "authorized": a.Authorized, "expires_at": expiresAt,
			"needs_reauth": a.NeedsReauth, "flow": nullable(string(a.Flow)),
			"login": a.Login, "redirect_uri": a.RedirectURI,
		})
	}
	return m.Response(map[string]any{"apps": list})
}
