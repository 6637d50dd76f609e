package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// get loads a page as a phone would and returns status and body.
func get(t *testing.T, raw string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(raw)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !strings.HasPrefix(ct, "text/html") {
		t.Errorf("status %d with Content-Type %q, want a human page", resp.StatusCode, ct)
	}
	return resp.StatusCode, string(b)
}

// redirectFor runs a real login up to the provider's redirect and returns
// the callback URL with its code and state, unused.
func (s *setup) redirectFor(t *testing.T, appID string) string {
	t.Helper()
	authURL := noErr(t, s.skill.request(t, "oauth.get", app(appID), "oauth.url"))["url"].(string)
	phone := noRedirect(s.p.Phone(t), hostOf(t, s.d.baseURL))
	resp, _ := s.p.LoginWith(t, phone, authURL)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, s.d.baseURL+"/auth/callback/") {
		t.Fatalf("provider redirect = %q", loc)
	}
	return loc
}

// count is how many messages of typ the skill has seen.
func (s *setup) count(typ string) int {
	n := 0
	for _, m := range s.skill.Seen() {
		if m.Type == typ {
			n++
		}
	}
	return n
}

// noTokenEvent checks, after a marker request's reply, that no token for
// the app came out.
func (s *setup) noTokenEvent(t *testing.T, appID string) {
	t.Helper()
	s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response")
	for _, m := range s.skill.Seen() {
		if m.Type == "oauth.token.response."+skillID+"_"+appID {
			t.Fatalf("a token was issued for %s", appID)
		}
	}
}

func TestCallbackRejections(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "a", "b")
	s.register(t, "a", "web", secret, nil)
	s.register(t, "b", "web", secret, nil)

	t.Run("forged state", func(t *testing.T) {
		loc := s.redirectFor(t, "a")
		u, _ := url.Parse(loc)
		q := u.Query()
		q.Set("state", "forged-"+strings.Repeat("x", 40))
		u.RawQuery = q.Encode()
		status, body := get(t, u.String())
		if status != http.StatusBadRequest {
			t.Fatalf("forged state: status %d, want 400", status)
		}
		if strings.Contains(body, q.Get("code")) || strings.Contains(body, q.Get("state")) {
			t.Errorf("page echoes code or state")
		}
		// Anyone on the LAN can send that: it ends no login, so the skill
		// hears nothing and the user's real answer still completes it.
		s.noTokenEvent(t, "a")
		if n := s.count("oauth.token.error." + skillID + "_a"); n != 0 {
			t.Errorf("%d token.error events for a forged state, want 0", n)
		}
		if status, _ := get(t, loc); status != http.StatusOK {
			t.Fatalf("the real answer after the forged one: status %d, want 200", status)
		}
		s.skill.Expect(t, "oauth.token.response."+skillID+"_a")
	})

	t.Run("reused state", func(t *testing.T) {
		loc := s.redirectFor(t, "a")
		if status, _ := get(t, loc); status != http.StatusOK {
			t.Fatalf("first use: status %d", status)
		}
		s.skill.Expect(t, "oauth.token.response."+skillID+"_a")
		errorsBefore := s.count("oauth.token.error." + skillID + "_a")
		if status, body := get(t, loc); status != http.StatusOK || !strings.Contains(body, "This login is finished") {
			t.Fatalf("second use: status %d, want 200 saying the login is finished", status)
		}
		// The skill has its token: a replay of the same answer (ovos-shell's
		// browser loading it and forwarding it too) is refused without
		// telling the skill the login failed.
		s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response")
		if n := s.count("oauth.token.error." + skillID + "_a"); n != errorsBefore {
			t.Errorf("token.error after a successful login's replay")
		}
	})

	t.Run("cross-app state", func(t *testing.T) {
		loc := s.redirectFor(t, "a")
		crossed := strings.Replace(loc, "/auth/callback/"+skillID+"_a?", "/auth/callback/"+skillID+"_b?", 1)
		errorsBefore := s.count("oauth.token.error." + skillID + "_a")
		tokensBefore := s.count("oauth.token.response." + skillID + "_a")
		if status, _ := get(t, crossed); status != http.StatusBadRequest {
			t.Fatalf("state of a at b's callback: status %d, want 400", status)
		}
		// Checked before it is spent: a's login is as it was, and neither
		// skill hears of the stray answer.
		if status, _ := get(t, loc); status != http.StatusOK {
			t.Fatalf("a's answer at a after the cross-app attempt: status %d, want 200", status)
		}
		s.skill.Expect(t, "oauth.token.response."+skillID+"_a")
		s.noTokenEvent(t, "b")
		if n := s.count("oauth.token.error." + skillID + "_b"); n != 0 {
			t.Errorf("%d token.error events for b", n)
		}
		if n := s.count("oauth.token.error." + skillID + "_a"); n != errorsBefore {
			t.Errorf("token.error events for a")
		}
		if n := s.count("oauth.token.response." + skillID + "_a"); n != tokensBefore+1 {
			t.Errorf("%d new token events for a, want 1", n-tokensBefore)
		}
	})

	t.Run("access denied", func(t *testing.T) {
		authURL := noErr(t, s.skill.request(t, "oauth.get", app("a"), "oauth.url"))["url"].(string)
		u, _ := url.Parse(authURL)
		state := u.Query().Get("state")
		status, _ := get(t, s.d.baseURL+"/auth/callback/"+skillID+"_a?error=access_denied&state="+url.QueryEscape(state))
		if status != http.StatusForbidden {
			t.Fatalf("error=access_denied: status %d, want 403", status)
		}
		wantErr(t, s.skill.Expect(t, "oauth.token.error."+skillID+"_a"), "access_denied")
	})

	t.Run("missing code", func(t *testing.T) {
		authURL := noErr(t, s.skill.request(t, "oauth.get", app("a"), "oauth.url"))["url"].(string)
		u, _ := url.Parse(authURL)
		status, _ := get(t, s.d.baseURL+"/auth/callback/"+skillID+"_a?state="+url.QueryEscape(u.Query().Get("state")))
		if status != http.StatusBadRequest {
			t.Fatalf("no code: status %d, want 400", status)
		}
		wantErr(t, s.skill.Expect(t, "oauth.token.error."+skillID+"_a"), "invalid_request")
	})

	t.Run("unknown app", func(t *testing.T) {
		// The same answer as a registered app's without a live state: the
		// callback does not tell the LAN which apps exist.
		unknownStatus, unknownBody := get(t, s.d.baseURL+"/auth/callback/nobody_nothing?code=x&state=y")
		knownStatus, knownBody := get(t, s.d.baseURL+"/auth/callback/"+skillID+"_a?code=x&state=y")
		if unknownStatus != http.StatusBadRequest || unknownStatus != knownStatus || unknownBody != knownBody {
			t.Fatalf("unknown app: %d %q; registered app, random state: %d %q; want the same 400 page", unknownStatus, unknownBody, knownStatus, knownBody)
		}
	})

	t.Run("traversal in path", func(t *testing.T) {
		for _, p := range []string{"/auth/callback/..%2F..%2Fetc%2Fpasswd?code=x&state=y", "/auth/callback/a%00b_c?code=x&state=y", "/auth/start/..%2Fx", "/auth/start/short"} {
			if status, _ := get(t, s.d.baseURL+p); status < 400 || status >= 500 {
				t.Errorf("GET %s: status %d, want 4xx", p, status)
			}
		}
	})

	t.Run("oversized URL", func(t *testing.T) {
		if status, _ := get(t, s.d.baseURL+"/auth/callback/"+skillID+"_a?code="+strings.Repeat("x", 9000)); status != http.StatusRequestURITooLong {
			t.Fatalf("9 KB URL: status %d, want 414", status)
		}
	})

	t.Run("not GET", func(t *testing.T) {
		resp, err := http.Post(s.d.baseURL+"/auth/callback/"+skillID+"_a", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST: status %d, want 405", resp.StatusCode)
		}
	})
}

func TestBusRejections(t *testing.T) {
	t.Parallel()
	// The bus takes frames of up to 1 MiB here, not ovos-messagebus's
	// 25 MiB, which internal/bus's tests hold the hub to: a 26 MB frame
	// cost 2 s of CPU under -race.
	const maxFrame = 1 << 20
	s := newSetupHub(t, func(h *bus.Hub) { h.MaxMessageSize = maxFrame }, map[string]string{"web": secret}, "a")
	s.register(t, "a", "web", secret, nil)

	tests := []struct {
		name, typ, reply string
		data             map[string]any
		code             string
	}{
		{"register without auth_endpoint", "oauth.register", "oauth.register.response",
			map[string]any{"skill_id": skillID, "app_id": "x", "token_endpoint": s.p.TokenEndpoint}, "invalid_request"},
		{"register traversal in skill_id", "oauth.register", "oauth.register.response",
			map[string]any{"skill_id": "../../etc", "app_id": "x", "auth_endpoint": s.p.AuthEndpoint, "token_endpoint": s.p.TokenEndpoint}, "invalid_request"},
		{"register with a non-http endpoint", "oauth.register", "oauth.register.response",
			map[string]any{"skill_id": skillID, "app_id": "x", "auth_endpoint": "file:///etc/passwd", "token_endpoint": s.p.TokenEndpoint}, "invalid_request"},
		{"register client_id of the wrong type", "oauth.register", "oauth.register.response",
			map[string]any{"skill_id": skillID, "app_id": "x", "client_id": 42, "auth_endpoint": s.p.AuthEndpoint, "token_endpoint": s.p.TokenEndpoint}, "invalid_request"},
		{"get unknown app", "oauth.get", "oauth.url", app("unregistered"), "unknown_app"},
		// Failures of what ovos-shell acts on come as the request's own
		// response: a start.authentication would open a blank popup.
		{"start unknown app", "oauth.start", "oauth.start.response", app("unregistered"), "unknown_app"},
		{"qr unknown app", "oauth.generate.qr.request", "oauth.generate.qr.response", app("unregistered"), "unknown_app"},
		{"qr traversal in app_id", "oauth.generate.qr.request", "oauth.generate.qr.response", map[string]any{"skill_id": skillID, "app_id": "../../x"}, "invalid_request"},
		{"refresh unknown app", "oauth.refresh", "oauth.refresh.response", app("unregistered"), "unknown_app"},
		{"refresh never logged in", "oauth.refresh", "oauth.refresh.response", app("a"), "not_authorized"},
		{"token.get never logged in", "oauth.token.get", "oauth.token.get.response", app("a"), "not_authorized"},
		{"forward without redirectURL", "ovos.shell.oauth.authentication.forward", "ovos.shell.oauth.authentication.forward.response", app("a"), "invalid_request"},
		{"forward with a relative redirectURL", "ovos.shell.oauth.authentication.forward", "ovos.shell.oauth.authentication.forward.response",
			map[string]any{"skill_id": skillID, "app_id": "a", "redirectURL": "?code=x&state=y"}, "invalid_request"},
		{"credentials without client_id", "ovos.shell.oauth.register.credentials", "ovos.shell.oauth.register.credentials.response", app("a"), "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := s.skill.request(t, tt.typ, tt.data, tt.reply)
			d := wantErr(t, m, tt.code)
			if tt.typ == "oauth.refresh" && d["result"] != "Error" {
				t.Errorf("refresh failure result = %v, want Error", d["result"])
			}
		})
	}
	if n := s.count("ovos.shell.oauth.start.authentication"); n != 0 {
		t.Errorf("%d ovos.shell.oauth.start.authentication sent for failed requests: each opens a popup in ovos-shell", n)
	}

	t.Run("malformed frames", func(t *testing.T) {
		for _, frame := range []string{
			`{"type": "oauth.get", "data": `,
			`not json`,
			`["oauth.get"]`,
			`{"type": 42}`,
		} {
			s.skill.SendRaw(t, []byte(frame))
		}
		// A request whose data is not an object still gets its one reply.
		s.skill.SendRaw(t, []byte(`{"type": "oauth.get", "data": "skill_id", "context": {}}`))
		wantErr(t, s.skill.Expect(t, "oauth.url"), "invalid_request")
		// And the daemon still answers.
		noErr(t, s.skill.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	})

	t.Run("oversized frame", func(t *testing.T) {
		conn, _, err := websocket.DefaultDialer.Dial(s.d.busURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The write may fail half-way: the bus resets the sender's
		// connection as soon as the frame passes its limit.
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"oauth.get","data":{"skill_id":"`+strings.Repeat("x", maxFrame+1<<20)+`"}}`))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
					t.Logf("oversized sender dropped with %v", err)
				}
				break
			}
		}
		// The daemon keeps serving everyone else.
		noErr(t, s.skill.request(t, "oauth.get.app.host.info", map[string]any{}, "oauth.app.host.info.response"))
	})

	t.Run("own replies are not requests", func(t *testing.T) {
		// Replies and events relayed back to the daemon must not be
		// answered: a reply to a reply would show up as a second frame.
		for _, typ := range []string{"oauth.url", "oauth.register.response", "ovos.shell.oauth.start.authentication", "oauth.ping", "oauth.token.response." + skillID + "_a"} {
			s.skill.Send(t, bus.NewMessage(typ, app("a")))
		}
		s.skill.request(t, "oauth.status", map[string]any{}, "oauth.status.response")
		for _, m := range s.skill.Seen() {
			if strings.HasSuffix(m.Type, ".response.response") || m.Type == "oauth.url.response" {
				t.Errorf("daemon answered its own reply: %s", m.Type)
			}
		}
	})
}

// TestBogusForwards: answers forwarded over the bus that end no login (no
// state, a random state, an error without state, another app's state) get
// their error reply, emit no oauth.token.error and leave the real login
// pending: its answer completes it afterwards.
func TestBogusForwards(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]string{"web": secret}, "a", "b")
	s.register(t, "a", "web", secret, nil)
	s.register(t, "b", "web", secret, nil)
	real := s.redirectFor(t, "a")
	other := s.redirectFor(t, "b")
	otherState := mustQuery(t, other).Get("state")
	callback := s.d.baseURL + "/auth/callback/" + skillID + "_a"
	for _, bogus := range []string{
		callback + "?code=x",
		callback + "?code=x&state=" + strings.Repeat("r", 43),
		callback + "?error=access_denied",
		callback + "?code=x&state=" + url.QueryEscape(otherState),
	} {
		fwd := app("a")
		fwd["redirectURL"] = bogus
		got := dataOf(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response"))
		if got["authorized"] != false || got["error"] == nil {
			t.Errorf("forward of %s = %v, want an error reply", bogus[len(callback):], got)
		}
	}
	fwd := app("a")
	fwd["redirectURL"] = real
	if got := noErr(t, s.skill.request(t, "ovos.shell.oauth.authentication.forward", fwd, "ovos.shell.oauth.authentication.forward.response")); got["authorized"] != true {
		t.Fatalf("the real answer after the bogus ones = %v", got)
	}
	s.checkToken(t, dataOf(t, s.skill.Expect(t, "oauth.token.response."+skillID+"_a")))
	// b's state, forwarded for a, was not spent either.
	if status, _ := get(t, other); status != http.StatusOK {
		t.Errorf("b's own answer after its state was forwarded for a: status %d, want 200", status)
	}
	for _, a := range []string{"a", "b"} {
		if n := s.count("oauth.token.error." + skillID + "_" + a); n != 0 {
			t.Errorf("%d oauth.token.error events for %s", n, a)
		}
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
