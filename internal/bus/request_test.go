package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
)

// responder answers test.req with test.req.response carrying the request's
// data, as a skill's reply would, after delay.
type responder struct {
	c     *bus.Client
	delay func(n int) time.Duration
}

func (r *responder) Handles(typ string) bool { return typ == "test.req" }
func (r *responder) Invalid(string, error)   {}
func (r *responder) Dispatch(m bus.Message) {
	var d struct{ N int }
	_ = m.DecodeData(&d)
	go func() {
		time.Sleep(r.delay(d.N))
		_ = r.c.Send(m.Response(map[string]any{"n": d.N}))
	}()
}

// TestRequestMatchesItsOwnReply: concurrent requests of one type, answered
// out of order, each get their own reply, not the first of its type.
func TestRequestMatchesItsOwnReply(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	resp := &responder{delay: func(n int) time.Duration { return time.Duration(20-n) * time.Millisecond }}
	rc := newClient(t, url, resp)
	resp.c = rc.Client
	rc.start(t)
	rc.waitConnect(t)
	asker := newClient(t, url, newRecorder())
	asker.start(t)
	asker.waitConnect(t)

	var wg sync.WaitGroup
	for n := range 20 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			r, err := asker.Request(ctx, bus.NewMessage("test.req", map[string]any{"n": n}))
			if err != nil {
				t.Errorf("request %d: %v", n, err)
				return
			}
			var d struct{ N int }
			if err := r.DecodeData(&d); err != nil || r.Type != "test.req.response" || d.N != n {
				t.Errorf("request %d got %s %s", n, r.Type, r.Data)
			}
		})
	}
	wg.Wait()
}

func TestRequestWithoutReply(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	asker := newClient(t, url, newRecorder())
	asker.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := asker.Request(ctx, bus.NewMessage("test.nobody", nil))
	if !errors.Is(err, bus.ErrNoReply) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Request() = %v, want ErrNoReply and the deadline", err)
	}
	// Its own type as reply type: the bus's echo proves it was relayed.
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitLimit)
	defer cancel2()
	echo, err := asker.Request(ctx2, bus.NewMessage("test.emit", map[string]any{"x": 1}), "test.emit")
	if err != nil || echo.Type != "test.emit" || string(echo.Data) != `{"x":1}` {
		t.Errorf("echo = %v %s, %v", echo.Type, echo.Data, err)
	}
}

// TestWatch sees frames of the types it takes, beside the Handler.
func TestWatch(t *testing.T) {
	t.Parallel()
	url, _ := bustest.StartHub(t)
	rec := newRecorder("test.a")
	c := newClient(t, url, rec)
	frames, stop := c.Watch(func(typ string) bool { return typ == "test.a" || typ == "test.b" }, 10)
	c.start(t)
	c.waitConnect(t)
	p := bustest.Dial(t, url)
	for _, typ := range []string{"test.a", "test.c", "test.b"} {
		p.Send(t, bus.NewMessage(typ, nil))
	}
	var got []string
	for range 2 {
		select {
		case m := <-frames:
			got = append(got, m.Type)
		case <-time.After(waitLimit):
			t.Fatalf("watched %v, want test.a and test.b", got)
		}
	}
	if fmt.Sprint(got) != "[test.a test.b]" {
		t.Errorf("watched %v", got)
	}
	if m := rec.next(t); m.Type != "test.a" {
		t.Errorf("handler got %s", m.Type)
	}
	stop()
	p.Send(t, bus.NewMessage("test.a", nil))
	rec.next(t)
	select {
	case m := <-frames:
		t.Errorf("frame %s after stop", m.Type)
	default:
	}
}
