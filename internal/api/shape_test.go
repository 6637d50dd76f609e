package api_test

import (
	"maps"
	"slices"
	"testing"
)

// keys is the set of a reply's fields but the error ones.
func keys(d map[string]any) []string {
	delete(d, "error")
	delete(d, "error_description")
	return slices.Sorted(maps.Keys(d))
}

// TestReplyShapesDoNotDependOnTheOutcome: a busy, failed or successful
// reply of one type has the same fields (with "error" where it failed), so
// a skill can read a reply without knowing first how it went.
func TestReplyShapesDoNotDependOnTheOutcome(t *testing.T) {
	registered := map[string]any{"skill_id": "s", "app_id": "a", "client_id": "c",
		"auth_endpoint": "https://p.example/a", "token_endpoint": "https://p.example/t"}
	tests := []struct {
		typ              string
		success, failure map[string]any // requests that succeed and fail with app "a" registered
	}{
		{"oauth.register", registered, map[string]any{"skill_id": "s", "app_id": "b", "auth_endpoint": "file:///etc/passwd", "token_endpoint": "https://p.example/t"}},
		{"oauth.get", map[string]any{"skill_id": "s", "app_id": "a"}, map[string]any{"skill_id": "s", "app_id": "unknown"}},
		{"oauth.generate.qr.request", map[string]any{"skill_id": "s", "app_id": "a"}, map[string]any{"skill_id": "s", "app_id": "unknown"}},
		{"oauth.get.app.host.info", nil, nil},
		{"oauth.status", map[string]any{"skill_id": "s"}, map[string]any{"skill_id": "../x"}},
		{"oauth.revoke", map[string]any{"skill_id": "s", "app_id": "a"}, map[string]any{"skill_id": "s", "app_id": "unknown"}},
		{"oauth.unregister", map[string]any{"skill_id": "s", "app_id": "other"}, map[string]any{"skill_id": "s", "app_id": "../x"}},
		{"oauth.refresh", nil, map[string]any{"skill_id": "s", "app_id": "a"}}, // never logged in: not_authorized
		{"oauth.token.get", nil, map[string]any{"skill_id": "s", "app_id": "a"}},
		{"ovos.shell.oauth.authentication.forward", map[string]any{"skill_id": "s", "app_id": "a", "redirectURL": "http://192.0.2.1:36536/somewhere?code=x&state=y"},
			map[string]any{"skill_id": "s", "app_id": "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			svc, out := newService(t)
			run(t, svc)
			svc.Dispatch(request("oauth.register", registered))
			out.wait(t, 1)
			n := 1
			var shapes [][]string
			var outcomes []string
			for _, data := range []map[string]any{tt.success, tt.failure} {
				if data == nil && tt.typ != "oauth.get.app.host.info" {
					continue
				}
				svc.Dispatch(request(tt.typ, data))
				n++
				d := dataOf(t, out.wait(t, n)[n-1])
				outcomes = append(outcomes, "error="+toString(d["error"]))
				shapes = append(shapes, keys(d))
			}
			// Busy: a service whose queue takes nothing.
			busy, busyOut := newService(t)
			busy.MaxQueued = 0
			busy.Dispatch(request(tt.typ, tt.failure))
			d := dataOf(t, busyOut.wait(t, 1)[0])
			if d["error"] != "busy" {
				t.Fatalf("busy reply = %v", d)
			}
			shapes = append(shapes, keys(d))
			outcomes = append(outcomes, "busy")
			for i := range shapes[1:] {
				if !slices.Equal(shapes[0], shapes[i+1]) {
					t.Errorf("fields differ by outcome:\n  %s: %v\n  %s: %v", outcomes[0], shapes[0], outcomes[i+1], shapes[i+1])
				}
			}
		})
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
