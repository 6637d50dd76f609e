package relay_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

// TestAcceptsAsThePage checks relay.Accepts against the cases the page is
// tested against in Chromium (testdata/targets.json): the daemon's rule
// and the page's agree on each.
func TestAcceptsAsThePage(t *testing.T) {
	t.Parallel()
	ts := readTargets(t)
	for _, target := range ts.Accepted {
		if !relay.Accepts(target) {
			t.Errorf("Accepts(%q) = false, want true: the page accepts it", target)
		}
	}
	for _, tt := range ts.Refused {
		target := strings.ReplaceAll(tt.Target, "DEV", "127.0.0.1:36536")
		if relay.Accepts(target) {
			t.Errorf("%s: Accepts(%q) = true, want false: the page refuses it", tt.Name, target)
		}
	}
}

// FuzzAccepts: whatever the URL, Accepts answers without a panic, and what
// it accepts is a plain http(s) URL to /auth/callback/<id> on the home
// network, read the same by Go's URL parser.
func FuzzAccepts(f *testing.F) {
	for _, s := range []string{"http://192.168.1.2:36536/auth/callback/a_b", "http://[fe80::1]/auth/callback/a_b", "http://ovos.home.arpa/auth/callback/a_b", "http://x.lan/auth/callback/a_b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !relay.Accepts(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/auth/callback/") || u.Host == "" {
			t.Fatalf("Accepts(%q) = true for %#v, %v", s, u, err)
		}
	})
}
