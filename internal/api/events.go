package api

import (
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

var _ oauth.Events = (*Service)(nil)

// Ping asks skills to register again; the daemon sends it on every
// (re)connect to the bus.
func (s *Service) Ping() { s.emit(bus.NewMessage(TypePing, nil)) }

// TokenIssued emits oauth.token.response.<munged_id> after a login. Like
// every event, it carries the access token and never the refresh token.
func (s *Service) TokenIssued(app *oauth.App, tok *oauth.Token) {
	s.emit(bus.NewMessage(PrefixTokenResponse+app.MungedID(), tok.BusFields()))
}

// TokenRefreshed emits oauth.token.refreshed.<munged_id>.
func (s *Service) TokenRefreshed(app *oauth.App, tok *oauth.Token) {
	s.emit(bus.NewMessage(PrefixTokenRefreshed+app.MungedID(), tok.BusFields()))
}

// LoginFailed emits oauth.token.error.<munged_id>.
func (s *Service) LoginFailed(app *oauth.App, err *oauth.Error) {
	s.emit(bus.NewMessage(PrefixTokenError+app.MungedID(), map[string]any{
		"skill_id": app.SkillID, "app_id": app.AppID,
		"error": err.Code, "error_description": err.Description,
	}))
}

// ReauthRequired emits oauth.reauth.required.<munged_id>.
func (s *Service) ReauthRequired(app *oauth.App, reason string) {
	s.emit(bus.NewMessage(PrefixReauthRequired+app.MungedID(), map[string]any{
		"skill_id": app.SkillID, "app_id": app.AppID, "reason": reason,
	}))
}
