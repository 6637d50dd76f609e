package relay_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/OpenVoiceOS/ovos-oauth/web/relay"
)

func TestCheckPageURL(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"https://relay.example/",
		"https://relay.example/ovos/",
		"https://relay.example:8443/ovos/index.html",
		"https://relay.example",
	} {
		if err := relay.CheckPageURL(raw); err != nil {
			t.Errorf("CheckPageURL(%q) = %v, want nil", raw, err)
		}
	}
	for _, tt := range []struct {
		raw, want string // want: in the error
	}{
		{"", "https://"},
		{"relay.example/ovos/", "https://"},
		{"http://relay.example/", "https://"},
		{"https://relay.example/%zz", "not a URL"},
		{"https:///ovos/", "host"},
		{"https://user:hunter2@relay.example/", "user info"},
		{"https://relay.example/?x=1", "query"},
		{"https://relay.example/?", "query"},
		{"https://relay.example/#top", "fragment"},
		{"https://relay.example/#", "fragment"},
	} {
		err := relay.CheckPageURL(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckPageURL(%q) = %v, want an error about %q", tt.raw, err, tt.want)
			continue
		}
		if tt.raw != "" && strings.Contains(err.Error(), tt.raw) {
			t.Errorf("CheckPageURL(%q) = %v, repeats the URL", tt.raw, err)
		}
	}
}

// FuzzCheckPageURL: whatever the text, CheckPageURL answers without a
// panic, and what it accepts is an https URL with a host and nothing a
// provider's exact comparison or the page's own query would trip on.
func FuzzCheckPageURL(f *testing.F) {
	for _, s := range []string{"https://relay.example/ovos/", "https://relay.example/?", "https://u@relay.example/", "http://relay.example/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if relay.CheckPageURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(s, "?#") {
			t.Errorf("CheckPageURL(%q) = nil, want an error", s)
		}
	})
}
