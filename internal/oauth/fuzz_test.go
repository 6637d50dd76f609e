package oauth_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// FuzzComplete throws arbitrary callback queries at an app with a pending
// login: the engine never panics, every failure has a code, and no token is
// issued unless the query carries the login's own state.
func FuzzComplete(f *testing.F) {
	f.Add("code=abc&state=xyz")
	f.Add("error=access_denied&state=")
	f.Add("state=%00&code=%ff")
	f.Add("code=1&code=2&state=a&state=b")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		fx := newFixture(t)
		fx.register(t, "app", nil)
		fl, _ := fx.start(t, "app")
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		if _, err := fx.e.Complete(context.Background(), "skill.test_app", q, ""); err != nil {
			if oauth.ErrorCode(err) == oauth.CodeInternal {
				t.Fatalf("internal error for query %q: %v", rawQuery, err)
			}
			return
		}
		if q.Get("state") != fl.State.Reveal() {
			t.Fatalf("a token for query %q without the login's state", rawQuery)
		}
	})
}
