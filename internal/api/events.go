package api

import (
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/wire"
)

var _ oauth.Events = (*Service)(nil)

// Ping asks skills to register again; the daemon sends it on every
// (re)connect to the bus.
func (s *Service) Ping() { s.emit(bus.NewMessage(wire.TypePing, nil)) }

// TokenIssued emits oauth.token.response.<munged_id> after a login. Like
// every event, it carries the access token and never the refresh token.
func (s *Service) TokenIssued(app *oauth.App, tok *oauth.Token) {
	s.emit(bus.NewMessage(wire.PrefixTokenResponse+app.MungedID(), wireToken(tok, s.engine.Now())))
}

// TokenRefreshed emits oauth.token.refreshed.<munged_id>.
func (s *Service) TokenRefreshed(app *oauth.App, tok *oauth.Token) {
	s.emit(bus.NewMessage(wire.PrefixTokenRefreshed+app.MungedID(), wireToken(tok, s.engine.Now())))
}

// LoginFailed emits oauth.token.error.<munged_id>.
func (s *Service) LoginFailed(app *oauth.App, err *oauth.Error) {
	s.emit(bus.NewMessage(wire.PrefixTokenError+app.MungedID(), wire.LoginError{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID},
		Error:  wire.Error{Code: err.Code, Description: err.Description},
	}))
}

// ReauthRequired emits oauth.reauth.required.<munged_id>.
func (s *Service) ReauthRequired(app *oauth.App, reason string) {
	s.emit(bus.NewMessage(wire.PrefixReauthRequired+app.MungedID(), wire.ReauthRequired{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID}, Reason: reason,
	}))
}

// ReauthUpcoming emits oauth.reauth.upcoming.<munged_id>: the login ends
// soon, and the skill may ask the user to log in again before it does.
func (s *Service) ReauthUpcoming(app *oauth.App, ends time.Time, reason string) {
	s.emit(bus.NewMessage(wire.PrefixReauthUpcoming+app.MungedID(), wire.ReauthUpcoming{
		AppRef: wire.AppRef{SkillID: app.SkillID, AppID: app.AppID}, MungedID: app.MungedID(),
		LoginExpiresAt: float64(ends.UnixMicro()) / 1e6, Reason: reason,
	}))
}
