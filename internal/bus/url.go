package bus

import "net/url"

// RedactURL returns a bus URL fit for a log line or an error message: its
// user info, query and fragment, which can hold credentials, each show as
// REDACTED, so the reader sees that something was there but not what
// (ws://REDACTED@host:8181/core?REDACTED). A URL that does not parse, or
// has no host, shows as "(malformed URL)": its parts cannot be told apart.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "(malformed URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "REDACTED", false
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	return u.String()
}
