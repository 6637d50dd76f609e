package api

import (
	"log/slog"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

var _ oauth.Events = (*Publisher)(nil)

// Publisher emits the oauth.* events: what happens to apps outside any
// request, as the engine tells it, and oauth.ping. Its methods are safe for
// concurrent use and do not block. An event carries no request's context:
// bus.Client.Send gives it the default session, as ovos-bus-client's emit
// does.
type Publisher struct {
	// Now is the clock the expires_in of a token is counted on. Default
	// time.Now.
	Now func() time.Time

	sender Sender
	logger *slog.Logger
}

// NewPublisher returns a Publisher that puts its events on sender.
func NewPublisher(sender Sender, logger *slog.Logger) *Publisher {
	return &Publisher{Now: time.Now, sender: sender, logger: logger}
}

// Ping asks skills to register again; the daemon sends it on every
// (re)connect to the bus.
func (p *Publisher) Ping() { p.emit(bus.NewMessage(wire.TypePing, nil)) }

// TokenIssued emits oauth.token.response.<munged_id> after a login. Like
// every event, it carries the access token and never the refresh token.
func (p *Publisher) TokenIssued(app *oauth.App, tok *oauth.Token) {
	p.emit(bus.NewMessage(wire.PrefixTokenResponse+app.MungedID(), wireToken(tok, p.Now())))
}

// TokenRefreshed emits oauth.token.refreshed.<munged_id>.
func (p *Publisher) TokenRefreshed(app *oauth.App, tok *oauth.Token) {
	p.emit(bus.NewMessage(wire.PrefixTokenRefreshed+app.MungedID(), wireToken(tok, p.Now())))
}

// LoginFailed emits oauth.token.error.<munged_id>.
func (p *Publisher) LoginFailed(app *oauth.App, err *oauth.Error) {
	p.emit(bus.NewMessage(wire.PrefixTokenError+app.MungedID(), wire.LoginError{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID},
		Error:  wire.Error{Code: err.Code, Description: err.Description},
	}))
}

// ReauthRequired emits oauth.reauth.required.<munged_id>.
func (p *Publisher) ReauthRequired(app *oauth.App, reason string) {
	p.emit(bus.NewMessage(wire.PrefixReauthRequired+app.MungedID(), wire.ReauthRequired{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID}, Reason: reason,
	}))
}

// ReauthUpcoming emits oauth.reauth.upcoming.<munged_id>: the login ends
// soon, and the skill may ask the user to log in again before it does.
func (p *Publisher) ReauthUpcoming(app *oauth.App, ends time.Time, reason string) {
	p.emit(bus.NewMessage(wire.PrefixReauthUpcoming+app.MungedID(), wire.ReauthUpcoming{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID}, MungedID: app.MungedID(),
		LoginExpiresAt: float64(ends.UnixMicro()) / 1e6, Reason: reason,
	}))
}

func (p *Publisher) emit(m bus.Message) {
	if err := p.sender.Send(m); err != nil {
		p.logger.Error("event not sent", "type", m.Type, "err", err)
	}
}
