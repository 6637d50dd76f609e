package relay

import (
	"errors"
	"net/url"
	"strings"
)

// CheckPageURL reports whether raw can be the relay page's address: an
// absolute https URL without user info, query or fragment. Providers
// compare a redirect URI exactly and the page reads its own query, so even
// an empty query or fragment ("https://host/relay?") is refused. Its errors
// are predicates to follow the name or the value of the setting, as in
// "relay_url " + err.Error(), and never repeat raw. Safe for concurrent use.
func CheckPageURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "https":
		return errors.New("is not an https:// URL (providers that need a relay refuse plain http)")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "#"):
		return errors.New("must be https://host/path, without user info, query or fragment")
	}
	return nil
}
