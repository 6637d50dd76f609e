package main

import (
	"encoding/json"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// defaultSession is the session ovos-bus-client's emit adds to a message
// sent without one, as a bus client in the default session (every skill and
// service on a device) builds it, and as ovos-messagebus's own "connected"
// frame carries it: a reader takes session_id "default" for its own default
// session and fills every other field from its own configuration.
const defaultSession = `{"session_id":"default"}`

// sessionOf is a frame's context.session as it came off the bus.
func sessionOf(m bus.Message) string { return string(m.Context["session"]) }

// TestRepliesCarryASession: a reply to a request that carries no session
// carries the default session, as ovos-bus-client's own emits do (without
// one every Python client on the bus logs "No session context in message"
// for the frame); a request's own session comes back unchanged; events
// carry the default session too.
func TestRepliesCarryASession(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "demo")

	// skill.request sends source and destination only, no session.
	reg := s.skill.request(t, "oauth.register", map[string]any{
		"skill_id": skillID, "app_id": "demo", "client_id": "web", "client_secret": secret,
		"auth_endpoint": s.p.AuthEndpoint, "token_endpoint": s.p.TokenEndpoint, "scope": "openid offline_access",
	}, "oauth.register.response")
	noErr(t, reg)
	if got := sessionOf(reg); got != defaultSession {
		t.Errorf("oauth.register.response to a request without a session: session %q, want %s", got, defaultSession)
	}
	for _, c := range []struct{ req, reply string }{
		{"oauth.get", "oauth.url"},
		{"oauth.status", "oauth.status.response"},
		{"oauth.token.get", "oauth.token.get.response"}, // fails: not logged in yet
	} {
		if got := sessionOf(s.skill.request(t, c.req, app("demo"), c.reply)); got != defaultSession {
			t.Errorf("%s to a request without a session: session %q, want %s", c.reply, got, defaultSession)
		}
	}

	// A frame that does not decode is answered too, its context lost.
	s.skill.SendRaw(t, []byte(`{"type":"oauth.status","data":[1],"context":{"source":"x"}}`))
	bad := s.skill.ExpectFunc(t, func(m bus.Message) bool {
		var d struct{ Error string }
		return m.Type == "oauth.status.response" && m.DecodeData(&d) == nil && d.Error == "invalid_request"
	})
	if got := sessionOf(bad); got != defaultSession {
		t.Errorf("reply to a frame that did not decode: session %q, want %s", got, defaultSession)
	}

	// A request with a session of its own gets it back unchanged, byte for
	// byte, as ovos-bus-client's Message.reply copies it.
	own := `{"session_id":"5d2a7c1e-kitchen","lang":"pt-PT","site_id":"kitchen","context":{"timeout":120,"frame_stack":[]}}`
	m := bus.NewMessage("oauth.status", map[string]any{"skill_id": skillID})
	m.Context = map[string]json.RawMessage{
		"source": json.RawMessage(`"` + skillID + `"`), "destination": json.RawMessage(`"PHAL"`),
		"session": json.RawMessage(own),
	}
	s.skill.Send(t, m)
	rep := s.skill.ExpectFunc(t, func(m bus.Message) bool {
		return m.Type == "oauth.status.response" && sessionOf(m) != defaultSession
	})
	if got := sessionOf(rep); got != own {
		t.Errorf("reply to a request with a session: session %s, want it unchanged: %s", got, own)
	}
	if src := string(rep.Context["source"]); src != `"PHAL"` {
		t.Errorf("reply source = %s, want the request's destination", src)
	}

	// The event of a login carries the default session.
	got := noErr(t, s.skill.request(t, "oauth.get", app("demo"), "oauth.url"))
	s.p.Login(t, got["url"].(string))
	ev := s.skill.Expect(t, "oauth.token.response."+skillID+"_demo")
	if got := sessionOf(ev); got != defaultSession {
		t.Errorf("oauth.token.response event: session %q, want %s", got, defaultSession)
	}
}
