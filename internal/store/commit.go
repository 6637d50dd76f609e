package store

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// committer groups concurrent writes into one bbolt transaction, so that
// writers arriving together share its fsyncs (group commit).
//
// bbolt's own DB.Batch waits MaxBatchDelay (10 ms) before it commits, which
// every lone write pays and which caps a steady stream of 8 writers at 8 per
// delay. Here there is no wait: a writer that finds no commit running commits
// at once, alone; writers that arrive while a commit runs queue, and the
// first of them commits the whole queue as soon as it is done. Under load a
// group is as large as what arrived during one commit.
//
// As with DB.Batch, a write's function may run more than once: when one
// function of a group fails, the transaction is rolled back, the failed one
// is run again alone (its error is then its own, not a consequence of the
// others) and the rest is committed without it. Functions must have no
// effect outside the transaction other than setting their results.
type committer struct {
	mu      sync.Mutex
	queue   []*write // not yet in a transaction
	leading bool     // a writer is committing
	commits uint64   // transactions committed, for tests and Writes
}

type write struct {
	fn   func(*bolt.Tx) error
	done chan writeResult // buffered: 1
}

type writeResult struct {
	err  error
	lead bool // the receiver commits the queue next
}

// do runs fn in a read-write transaction of bdb, grouped with whatever other
// writes are queued, and returns once that transaction is committed
// (fsync'd) or rolled back.
func (c *committer) do(bdb *bolt.DB, fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan writeResult, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		r := <-w.done
		if !r.lead {
			return r.err
		}
		c.mu.Lock()
	}
	c.leading = true
	group := c.queue
	c.queue = nil
	c.mu.Unlock()

	n := c.commit(bdb, group)

	c.mu.Lock()
	c.commits += n
	if len(c.queue) > 0 {
		// The next writer in line leads; this one returns.
		c.queue[0].done <- writeResult{lead: true}
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	return (<-w.done).err
}

// commit runs group's functions in one transaction and tells each its
// result. It returns how many transactions it committed.
func (c *committer) commit(bdb *bolt.DB, group []*write) (commits uint64) {
	for len(group) > 0 {
		failed := -1
		err := bdb.Update(func(tx *bolt.Tx) error {
			for i, w := range group {
				if err := w.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		switch {
		case failed < 0:
			if err == nil {
				commits++
			}
			for _, w := range group {
				w.done <- writeResult{err: err}
			}
			return commits
		case failed == 0:
			// It saw only what was committed: its error is its own.
			group[0].done <- writeResult{err: err}
		default:
			w := group[failed]
			err := bdb.Update(w.fn)
			if err == nil {
				commits++
			}
			w.done <- writeResult{err: err}
		}
		group = append(group[:failed:failed], group[failed+1:]...)
	}
	return commits
}
