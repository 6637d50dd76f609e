package graceful_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/graceful"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A request in progress when ctx ends is answered before Serve returns, and
// the listener is closed when it does.
func TestServeFinishesRequests(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})}
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- graceful.Serve(ctx, srv, ln, time.Minute) }()

	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answered <- answer{"", err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{string(b), err}
	}()
	<-started
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve() = %v while a request was in progress", err)
	default:
	}
	close(release)
	if a := <-answered; a.err != nil || a.body != "done" {
		t.Errorf("request in progress at shutdown = %q, %v; want %q", a.body, a.err, "done")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v, want nil", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("Dial() after Serve returned = nil error, want the listener closed")
	}
}

// A request that outlives the timeout makes Serve return Shutdown's error.
func TestServeTimeout(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})}
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- graceful.Serve(ctx, srv, ln, time.Millisecond) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve() = %v, want context.DeadlineExceeded", err)
	}
}

// Serving that fails is Serve's error, and the server is shut down: its
// shutdown functions run.
func TestServeFails(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	ln.Close()
	shut := make(chan struct{})
	srv := &http.Server{Handler: http.NotFoundHandler()}
	srv.RegisterOnShutdown(func() { close(shut) })
	err := graceful.Serve(t.Context(), srv, ln, time.Minute)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve() on a closed listener = %v, want its error", err)
	}
	select {
	case <-shut:
	case <-time.After(time.Minute):
		t.Error("the server's shutdown functions did not run")
	}
}
