// Package relay holds the relay page: a static HTTPS page, registered at an
// OAuth provider as the redirect URI, that sends the phone on to the device
// on its home network by a top-level navigation.
//
// The page reads the device's callback URL from the OAuth state the daemon
// built, state = R + "." + base64url(callback URL) with R 43 base64url
// characters, and forwards code, state, error, error_description and iss to
// it, but only to a private, link-local or loopback address or a localhost,
// .local or .home.arpa name, and only to /auth/callback/<munged id>.
// index.html is the whole page, to be published as is on any static HTTPS
// host; this package embeds it so tests can serve it, and holds the page's
// rule in Go (Accepts) so the daemon can tell when the page would refuse it.
// The page speaks the phone's language: its words are a table inside its
// script, written from internal/i18n/messages by make relay-page, which
// also writes the CSP hashes of its script and style anew.
package relay

import (
	"bytes"
	_ "embed"
)

//go:embed index.html
var page []byte

// Page returns index.html, the relay page, in a copy the caller may keep or
// change.
func Page() []byte { return bytes.Clone(page) }
