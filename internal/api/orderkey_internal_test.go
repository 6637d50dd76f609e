package api

import (
	"encoding/json"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
)

// TestOrderKeyOfNoApp: a request without skill_id and app_id, or with
// them null, keys as the re-encoding of its ids does, whichever way it
// is written.
func TestOrderKeyOfNoApp(t *testing.T) {
	t.Parallel()
	for _, data := range []string{`{}`, `{"skill_id":null}`, `{"app_id":null,"skill_id":null}`, `{"x":1}`} {
		m := bus.Message{Type: "oauth.get.app.host.info", Data: json.RawMessage(data)}
		var ref struct{ SkillID, AppID any }
		k, _ := json.Marshal([]any{ref.SkillID, ref.AppID})
		if got := orderKey(m); got != string(k) {
			t.Errorf("orderKey(%s) = %s, want %s", data, got, k)
		}
	}
	if got := orderKey(bus.Message{Data: json.RawMessage(`{"skill_id":"s","app_id":null}`)}); got != `["s",null]` {
		t.Errorf("orderKey of a skill without app = %s", got)
	}
}
