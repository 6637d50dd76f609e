package bus

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// RequestIDKey is the context key Request sets on a request to tell its
// reply from others of the same type: ovos-bus-client's reply, response
// and forward copy the context, and so do ovos-oauth and the Python plugin.
const RequestIDKey = "ovos_oauth_request_id"

// ErrNoReply is returned by Request when ctx ends before the reply came.
var ErrNoReply = errors.New("bus: no reply")

// watcher is one Watch or Request: the frames of the types it takes, from
// the read loop.
type watcher struct {
	types  func(string) bool
	accept func(Message) bool // nil: every frame of those types
	ch     chan Message
}

// Watch returns the frames whose type types accepts, decoded, from now
// until stop is called, in the order the bus sent them. It does not
// change what the Client's Handler gets. A frame that finds the channel
// full (buffer frames waiting) is dropped: read it promptly.
func (c *Client) Watch(types func(typ string) bool, buffer int) (frames <-chan Message, stop func()) {
	w := &watcher{types: types, ch: make(chan Message, max(buffer, 1))}
	c.addWatcher(w)
	return w.ch, func() { c.removeWatcher(w) }
}

func (c *Client) addWatcher(w *watcher) {
	c.wmu.Lock()
	if c.watchers == nil {
		c.watchers = make(map[*watcher]struct{})
	}
	c.watchers[w] = struct{}{}
	c.nwatch.Store(int32(len(c.watchers)))
	c.wmu.Unlock()
}

func (c *Client) removeWatcher(w *watcher) {
	c.wmu.Lock()
	delete(c.watchers, w)
	c.nwatch.Store(int32(len(c.watchers)))
	c.wmu.Unlock()
}

// deliver hands a frame to the watchers that take its type.
func (c *Client) deliver(typ string, frame []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var msg Message
	decoded := false
	for w := range c.watchers {
		if !w.types(typ) {
			continue
		}
		if !decoded {
			var err error
			if msg, err = Decode(frame); err != nil {
				return
			}
			decoded = true
		}
		if w.accept != nil && !w.accept(msg) {
			continue
		}
		select {
		case w.ch <- msg:
		default:
			c.logger.Debug("watcher full; frame dropped", "type", typ)
		}
	}
}

// Request sends m and returns its reply: the first frame of one of
// replyTypes (default m.Type + ".response") whose context carries the id
// Request put in m's context under RequestIDKey. It waits until ctx ends,
// also while the bus is down (m waits in the outbox like any frame), and
// then returns an error wrapping ErrNoReply and ctx's error. A request of a
// type the bus relays back unanswered, given as its own reply type,
// returns its echo: the bus has relayed it. Run must be running.
func (c *Client) Request(ctx context.Context, m Message, replyTypes ...string) (Message, error) {
	if len(replyTypes) == 0 {
		replyTypes = []string{m.Type + ".response"}
	}
	id := json.RawMessage(strconv.Quote(rand.Text()))
	m.Context = cloneContext(m.Context)
	m.Context[RequestIDKey] = id
	w := &watcher{
		types:  func(t string) bool { return slices.Contains(replyTypes, t) },
		accept: func(r Message) bool { return string(r.Context[RequestIDKey]) == string(id) },
		ch:     make(chan Message, 1),
	}
	c.addWatcher(w)
	defer c.removeWatcher(w)
	if err := c.Send(m); err != nil {
		return Message{}, err
	}
	select {
	case r := <-w.ch:
		return r, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("%s: %w (%w)", m.Type, ErrNoReply, context.Cause(ctx))
	}
}
