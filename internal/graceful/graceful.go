// Package graceful runs an HTTP server for as long as a context lives, then
// shuts it down, giving the requests in progress a fresh timeout to end.
package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves srv on ln until ctx ends or serving fails, then shuts srv
// down: it closes ln and the idle connections and waits up to timeout, on a
// context of its own since ctx has ended, for the requests in progress.
// Connections a handler hijacked (websockets) are the server's to close,
// from a function it gave srv.RegisterOnShutdown.
//
// The caller opened ln, so a taken port fails start-up before anything else
// runs. Serve returns serving's error if serving failed; otherwise nil, or
// Shutdown's error when requests outlived timeout.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error // srv.Serve's, never nil
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if err == nil {
		err = <-served
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutErr
}
