package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
)

// PutFlow stores a pending flow under its id and indexes it by the hash of
// its state, in one transaction; a flow without a state (a device login, a
// setup) is not indexed.
// Replacing a flow with the same id drops its old state.
//
// With keepPerApp > 0, PutFlow then keeps at most keepPerApp pending flows
// for the flow's app: the one just put and the newest of the others by
// Created (ties broken by id), deleting the rest. keepPerApp <= 0 keeps all.
//
// It returns an error wrapping oauth.ErrNotFound when the flow's app does not
// exist, so a flow never outlives its app, and an error when another flow
// already has the same state: states are random, so a clash is a bug. It
// reads only the flows of the flow's app, whatever the number of other
// apps' flows. Safe for concurrent use.
func (db *DB) PutFlow(flow *oauth.Flow, keepPerApp int) error {
	if flow.ID == "" {
		return errors.New("put flow: empty id")
	}
	if flow.State == "" && flow.Kind != oauth.FlowDevice && flow.Kind != oauth.FlowSetup {
		return fmt.Errorf("put flow %s: empty state", oauth.FlowTag(flow.ID))
	}
	data, err := json.Marshal(flow)
	if err != nil {
		return fmt.Errorf("put flow %s: %w", oauth.FlowTag(flow.ID), err)
	}
	err = db.update(func(b *buckets) error {
		if !b.apps.has([]byte(flow.MungedID)) {
			return fmt.Errorf("app %s: %w", flow.MungedID, oauth.ErrNotFound)
		}
		id := []byte(flow.ID)
		var state []byte // the flow's key in flowStates, if it has a state
		if flow.State != "" {
			state = stateKey(flow.State.Reveal())
		}
		if owner := b.flowStates.Get(state); len(state) > 0 && owner != nil && !bytes.Equal(owner, id) {
			// The state is a secret: name the other flow, not the state.
			return fmt.Errorf("state already belongs to flow %s", oauth.FlowTag(string(owner)))
		}
		if err := b.unindexReplaced(flow); err != nil {
			return err
		}
		if err := b.flows.put(id, data); err != nil {
			return err
		}
		if err := b.appFlows.Put(appFlowKey(flow.MungedID, flow.ID), indexValue(flow.Created, state)); err != nil {
			return err
		}
		if len(state) > 0 {
			if err := b.flowStates.Put(state, id); err != nil {
				return err
			}
		}
		if keepPerApp > 0 {
			return b.evictFlows(flow, keepPerApp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put flow %s: %w", oauth.FlowTag(flow.ID), err)
	}
	return nil
}

// unindexReplaced deletes the index entries of the flow stored under
// flow's id, if any, before flow replaces it: its app's entry, and its
// state's if flow has another state.
func (b *buckets) unindexReplaced(flow *oauth.Flow) error {
	id := []byte(flow.ID)
	if !b.flows.has(id) {
		return nil
	}
	prev, err := get[oauth.Flow](b.flows, flow.ID)
	if errors.Is(err, errDamaged) {
		// Set aside after; its index entries go now, before this flow's
		// take their place.
		app, err := b.unindexFlow(flow.ID)
		if err != nil {
			return err
		}
		b.damage.setApp(bucketFlows, id, app)
	} else if err != nil {
		return err
	} else if prev.State != flow.State {
		if err := b.deleteState(prev); err != nil {
			return err
		}
	}
	if prev != nil {
		return b.appFlows.Delete(appFlowKey(prev.MungedID, prev.ID))
	}
	return nil
}

// evictFlows deletes the oldest flows of kept's app so that at most keep
// remain, never kept itself. It reads the app's index entries, which hold
// each flow's creation time and state hash: a flow is opened only when its
// entry was written before they did (an index built by an older release).
func (b *buckets) evictFlows(kept *oauth.Flow, keep int) error {
	prefix := appFlowPrefix(kept.MungedID)
	var others []indexed
	c := b.appFlows.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		id := string(k[len(prefix):])
		if id == kept.ID {
			continue
		}
		e, ok := parseIndexValue(id, v)
		if !ok {
			f, err := get[oauth.Flow](b.flows, id)
			if errors.Is(err, errDamaged) {
				continue // set aside after, with its index entries
			}
			if err != nil {
				return fmt.Errorf("flow %s: %w", oauth.FlowTag(string(id)), err) // the index names a missing flow
			}
			e = indexed{id: id, created: f.Created}
			if f.State != "" {
				e.state = stateKey(f.State.Reveal())
			}
		}
		others = append(others, e)
	}
	if len(others) < keep {
		return nil
	}
	// Newest first; everything from index keep-1 on goes.
	slices.SortFunc(others, func(x, y indexed) int {
		return cmp.Or(y.created.Compare(x.created), cmp.Compare(y.id, x.id))
	})
	for _, e := range others[keep-1:] {
		if err := b.flows.delete([]byte(e.id)); err != nil {
			return err
		}
		if err := b.appFlows.Delete(appFlowKey(kept.MungedID, e.id)); err != nil {
			return err
		}
		if len(e.state) > 0 && bytes.Equal(b.flowStates.Get(e.state), []byte(e.id)) {
			if err := b.flowStates.Delete(e.state); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexed is what an app_flows entry tells of a flow.
type indexed struct {
	id      string
	created time.Time
	state   []byte // its key in flow_states; nil for a flow without state
}

// indexValue is a flow's app_flows value: its creation time (Unix
// nanoseconds, big-endian) and its state key, if it has a state. Neither is
// a secret. Entries of an older release are empty, as is that of a flow
// without a creation time.
func indexValue(created time.Time, state []byte) []byte {
	if created.IsZero() {
		return nil // no Unix time: read from the flow
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(state)), uint64(created.UnixNano())), state...)
}

func parseIndexValue(id string, v []byte) (indexed, bool) {
	if len(v) != 8 && len(v) != 8+sha256.Size {
		return indexed{}, false
	}
	e := indexed{id: id, created: time.Unix(0, int64(binary.BigEndian.Uint64(v)))}
	if len(v) > 8 {
		e.state = v[8:]
	}
	return e, true
}

// Flow returns the flow with the id, or an error wrapping oauth.ErrNotFound.
// It does not consume the flow. Safe for concurrent use.
func (db *DB) Flow(id string) (*oauth.Flow, error) {
	var flow *oauth.Flow
	err := db.view(func(b *buckets) error {
		var err error
		flow, err = get[oauth.Flow](b.flows, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get flow %s: %w", oauth.FlowTag(id), err)
	}
	return flow, nil
}

// Flows returns every pending flow, expired or spent or not, ordered by
// id. Safe for concurrent use.
func (db *DB) Flows() ([]*oauth.Flow, error) {
	var flows []*oauth.Flow
	err := db.view(func(b *buckets) error {
		return b.flows.forEach(func(k, v []byte) error {
			if f, err := decode[oauth.Flow](b.flows, k, v); err == nil {
				flows = append(flows, f)
			} // else damaged: skipped, and set aside after
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return flows, nil
}

// FlowsOf returns the pending flows of the app with the munged id, expired
// or not, ordered by id. It reads only that app's flows. Safe for concurrent
// use.
func (db *DB) FlowsOf(mungedID string) ([]*oauth.Flow, error) {
	var flows []*oauth.Flow
	err := db.view(func(b *buckets) error {
		var err error
		flows, err = b.flowsOf(mungedID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list flows of %s: %w", mungedID, err)
	}
	return flows, nil
}

// FlowByState returns the flow with the state, spent or not, without
// consuming it, or an error wrapping oauth.ErrNotFound. Safe for concurrent
// use.
func (db *DB) FlowByState(state string) (*oauth.Flow, error) {
	var flow *oauth.Flow
	err := db.view(func(b *buckets) error {
		if state == "" {
			return oauth.ErrNotFound
		}
		id := b.flowStates.Get(stateKey(state))
		if id == nil {
			return oauth.ErrNotFound
		}
		var err error
		flow, err = get[oauth.Flow](b.flows, string(id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("flow by state: %w", err) // never the state: it is a secret
	}
	return flow, nil
}

// DeleteFlow deletes the flow with the id and its state in one
// transaction, or returns an error wrapping oauth.ErrNotFound when there is
// none. Safe for concurrent use.
func (db *DB) DeleteFlow(id string) error {
	err := db.update(func(b *buckets) error {
		f, err := get[oauth.Flow](b.flows, id)
		if err != nil {
			return err
		}
		return b.deleteFlow(f)
	})
	if err != nil {
		return fmt.Errorf("delete flow %s: %w", oauth.FlowTag(id), err)
	}
	return nil
}

// TakeFlow finds the flow with the state, deletes it and its state in one
// transaction and returns it, whether or not it has expired. A state is good
// for one use: of concurrent or repeated calls with the same state exactly
// one gets the flow, the others an error wrapping oauth.ErrNotFound, as
// does a flow that SpendFlow spent. Safe for concurrent use.
func (db *DB) TakeFlow(state string) (*oauth.Flow, error) {
	var flow *oauth.Flow
	err := db.update(func(b *buckets) error {
		f, err := b.unspentFlow(state)
		if err != nil {
			return err
		}
		if err := b.deleteFlow(f); err != nil {
			return err
		}
		flow = f
		return nil
	})
	if err != nil {
		// Never the state in the message: it is a secret.
		return nil, fmt.Errorf("take flow: %w", err)
	}
	return flow, nil
}

// SpendFlow finds the flow with the state, marks it spent by run at now in
// one fsync'd transaction and returns it as it was, whether or not it has
// expired. A state is good for one use: of concurrent or repeated calls
// with the same state exactly one gets the flow, the others an error
// wrapping oauth.ErrNotFound, also after the process died and the store was
// opened again. The spent flow stays, with its state indexed, so that a
// repeat of the answer finds it, until PutLoginToken or DeleteFlow ends it;
// its stored copy has no verifier, whose one use is the exchange the caller
// makes with the copy returned.
//
// A release that predates SpendFlow reads a spent flow as a pending one;
// without its verifier, the provider refuses the code again.
// Safe for concurrent use.
func (db *DB) SpendFlow(state, run string, now time.Time) (*oauth.Flow, error) {
	var flow *oauth.Flow
	err := db.update(func(b *buckets) error {
		f, err := b.unspentFlow(state)
		if err != nil {
			return err
		}
		spent := *f
		spent.Spent, spent.SpentBy, spent.Verifier = now, run, ""
		data, err := json.Marshal(&spent)
		if err != nil {
			return fmt.Errorf("flow %s: %w", oauth.FlowTag(f.ID), err)
		}
		if err := b.flows.put([]byte(f.ID), data); err != nil {
			return err
		}
		flow = f
		return nil
	})
	if err != nil {
		// Never the state in the message: it is a secret.
		return nil, fmt.Errorf("spend flow: %w", err)
	}
	return flow, nil
}

// unspentFlow returns the flow with the state, or an error wrapping
// oauth.ErrNotFound when there is none or it is spent.
func (b *buckets) unspentFlow(state string) (*oauth.Flow, error) {
	if state == "" {
		return nil, oauth.ErrNotFound
	}
	id := b.flowStates.Get(stateKey(state))
	if id == nil {
		return nil, oauth.ErrNotFound
	}
	if !b.flows.has(id) {
		return nil, fmt.Errorf("state index names missing flow %s", oauth.FlowTag(string(id)))
	}
	f, err := get[oauth.Flow](b.flows, string(id))
	if err != nil {
		return nil, fmt.Errorf("flow %s: %w", oauth.FlowTag(string(id)), err)
	}
	if !f.Spent.IsZero() {
		return nil, oauth.ErrNotFound
	}
	return f, nil
}

// DeleteExpiredFlows deletes every flow whose Expires is before now, with its
// state, in one transaction (but not device logins: the engine's poll of one
// ends it and tells the skill it expired; nor spent ones not marked
// Interrupted: their exchange ends them, or the next run reports them), and
// returns how many it deleted. The cost is
// linear in the number of stored flows. Safe for concurrent use.
func (db *DB) DeleteExpiredFlows(now time.Time) (int, error) {
	// Looked for in a read transaction first: a write transaction fsyncs
	// even when it changes nothing, and an idle daemon sweeps regularly.
	found := false
	err := db.view(func(b *buckets) error {
		return b.flows.forEach(func(k, v []byte) error {
			if f, err := decode[oauth.Flow](b.flows, k, v); err == nil && sweepable(f, now) {
				found = true
			}
			return nil
		})
	})
	if err != nil || !found {
		return 0, err
	}
	var n int
	err = db.update(func(b *buckets) error {
		var err error
		n, err = b.deleteFlows(func(f *oauth.Flow) bool { return sweepable(f, now) })
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired flows: %w", err)
	}
	return n, nil
}

// sweepable reports whether DeleteExpiredFlows deletes f: an expired flow,
// except a device login, which its own poll ends and reports, and a spent
// one whose exchange may still run.
func sweepable(f *oauth.Flow, now time.Time) bool {
	return f.Expires.Before(now) && f.Kind != oauth.FlowDevice && (f.Spent.IsZero() || !f.Interrupted.IsZero())
}

// flowsOf returns the flows of the app with the munged id, through the
// app_flows index: the cost is that of the app's flows alone.
func (b *buckets) flowsOf(mungedID string) ([]*oauth.Flow, error) {
	prefix := appFlowPrefix(mungedID)
	var flows []*oauth.Flow
	c := b.appFlows.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := string(k[len(prefix):])
		f, err := get[oauth.Flow](b.flows, id)
		if errors.Is(err, errDamaged) {
			continue // set aside after
		}
		if err != nil {
			return nil, fmt.Errorf("flow %s: %w", oauth.FlowTag(string(id)), err) // the index names a missing flow
		}
		flows = append(flows, f)
	}
	return flows, nil
}

// deleteFlows deletes every flow that match reports true for, with its state,
// and returns how many it deleted.
func (b *buckets) deleteFlows(match func(*oauth.Flow) bool) (int, error) {
	// Collect first: deleting under a bbolt cursor can skip keys.
	var doomed []*oauth.Flow
	err := b.flows.forEach(func(k, v []byte) error {
		if f, err := decode[oauth.Flow](b.flows, k, v); err == nil && match(f) {
			doomed = append(doomed, f)
		} // a damaged one is set aside after
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range doomed {
		if err := b.deleteFlow(f); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// deleteFlow deletes the flow and its state.
func (b *buckets) deleteFlow(f *oauth.Flow) error {
	if err := b.flows.delete([]byte(f.ID)); err != nil {
		return err
	}
	if err := b.appFlows.Delete(appFlowKey(f.MungedID, f.ID)); err != nil {
		return err
	}
	return b.deleteState(f)
}

// deleteState deletes f's state from the index if it still names f.
func (b *buckets) deleteState(f *oauth.Flow) error {
	if f.State == "" {
		return nil
	}
	key := stateKey(f.State.Reveal())
	if !bytes.Equal(b.flowStates.Get(key), []byte(f.ID)) {
		return nil
	}
	return b.flowStates.Delete(key)
}
