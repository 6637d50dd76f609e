package oauthtest

import (
	"net/http"
	"net/http/httptest"
)

// InProcess is an http.RoundTripper that serves each request with Handler
// in the caller's goroutine: no sockets, so a testing/synctest bubble's
// clock moves while a request is "in flight", and a handler that hangs
// until the request's context ends plays a provider that never answers.
type InProcess struct{ Handler http.Handler }

// RoundTrip implements http.RoundTripper.
func (t InProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.Handler.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r // as http.Transport's: where a client's redirects led
	return resp, nil
}
