package oauth

import (
	"errors"
	"fmt"
)

// Error codes: short, stable strings that reach the bus (`error`) and decide
// the HTTP status of a callback page. Anything else is "internal_error".
const (
	CodeInvalidRequest      = "invalid_request"      // a field is missing or malformed
	CodeUnknownApp          = "unknown_app"          // no app with that skill_id and app_id
	CodeConflict            = "conflict"             // another app already has that munged id
	CodeNeedsCredentials    = "needs_credentials"    // the app has no client_id yet
	CodeInvalidState        = "invalid_state"        // unknown, used, or another app's state
	CodeExpiredState        = "expired_state"        // the login took longer than the flow TTL
	CodeAlreadyAnswered     = "already_answered"     // the same answer came twice (browser and ovos-shell)
	CodeAccessDenied        = "access_denied"        // the user or provider refused the login
	CodeExchangeFailed      = "exchange_failed"      // the token endpoint refused the code
	CodeProviderUnavailable = "provider_unavailable" // network error, timeout or 5xx at the provider
	CodeNotAuthorized       = "not_authorized"       // no token yet: the user never logged in
	CodeReauthRequired      = "reauth_required"      // the provider refused the refresh token for good
	CodeBusy                = "busy"                 // too many requests queued
	CodeNotAnAnswer         = "not_an_answer"        // a forwarded or pasted URL that is not the login's redirect URI
	CodeInterrupted         = "interrupted"          // the daemon stopped dead while it finished the login
	CodeInternal            = "internal_error"
)

// Error is a failure with a stable code and a description safe to show a
// user or put on the bus: never a secret, never Go error text. The cause,
// for logs, is in Err.
type Error struct {
	Code        string
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or CodeInternal.
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// ErrorDescription returns the description of err's *Error, or a generic
// sentence: unexpected errors are never shown as they are.
func ErrorDescription(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Description
	}
	return "Something went wrong inside ovos-oauth; see its log."
}
