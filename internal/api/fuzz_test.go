package api_test

import (
	"encoding/json"
	"testing"
)

var requestTypes = []string{"oauth.register", "oauth.get", "oauth.start", "ovos.shell.oauth.register.credentials",
	"ovos.shell.oauth.authentication.forward", "oauth.refresh", "oauth.get.app.host.info", "oauth.generate.qr.request",
	"oauth.token.get", "oauth.revoke", "oauth.unregister", "oauth.status"}

// FuzzRequest sends every request type with arbitrary data: each gets
// exactly one reply, and nothing panics (a panic in a handler would still
// be answered, so the log is checked too: the reply must not be the panic's
// internal_error).
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), []byte(`{"skill_id":"s","app_id":"a","auth_endpoint":"https://x/a","token_endpoint":"https://x/t"}`))
	f.Add(uint8(4), []byte(`{"skill_id":"s","app_id":"a","redirectURL":"http://h/auth/callback/s_a?code=1&state=2"}`))
	f.Add(uint8(2), []byte(`{"skill_id":null,"app_id":[1]}`))
	f.Add(uint8(0), []byte(`{"skill_id":"s","app_id":"a","scope":["a","b"],"auth_params":{"state":"x"}}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return // the bus does not deliver frames whose data is not an object
		}
		svc, out := newService(t)
		stop := run(t, svc)
		m := request(requestTypes[int(which)%len(requestTypes)], nil)
		m.Data = data
		svc.Dispatch(m)
		out.wait(t, 1)
		stop() // every handler has finished: all it sent is in out
		got := out.wait(t, 1)
		// The reply is the one for this request; an event may follow it
		// (display.qr.code), never a second reply.
		replies := 0
		for _, r := range got {
			if r.Type != "ovos.shell.oauth.display.qr.code" {
				replies++
			}
			var d map[string]any
			if err := r.DecodeData(&d); err != nil {
				t.Fatalf("reply data: %v", err)
			}
			if d["error"] == "internal_error" {
				t.Fatalf("%s with %s: internal_error (%v)", m.Type, data, d["error_description"])
			}
		}
		if replies != 1 {
			t.Fatalf("%s: %d replies", m.Type, replies)
		}
	})
}
