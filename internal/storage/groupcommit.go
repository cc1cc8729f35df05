package storage

import (
	"sync"
	"sync/atomic"
)

// GroupCommitter funnels concurrent writers into shared synced commits: while one commit is
// syncing, new mutations collect in the next batch, so N concurrent writers cost about one
// sync per round instead of N. Writers add mutations under the committer's lock, which also
// fixes the order in which they reach the store: a caller that serializes its own updates
// of a key (for example under a per-task lock) gets them applied in that order.
type GroupCommitter struct {
	store Store

	mu      sync.Mutex
	cur     *Group
	closed  bool
	kick    chan struct{}
	stopped chan struct{}

	commits, mutations uint64
	byCauses           [causeSets]uint64 // commits by the set of causes they carried
	written            atomic.Uint64     // mutations that reached the store (see Written)
}

// writtenCounter is a Batch that tells, after its commit, how many of its mutations
// reached the store: a store may leave out those a later one of the same key supersedes.
type writtenCounter interface{ Written() int }

// Group is one commit round. Wait returns its outcome.
type Group struct {
	b      Batch
	causes Cause
	done   chan struct{}
	err    error
	thens  []func(error)
}

// Wait blocks until the group is durable and returns the commit error, if any.
func (g *Group) Wait() error {
	<-g.done
	return g.err
}

// Done tells, without blocking, whether the group's outcome is known (Wait returns at once).
func (g *Group) Done() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// NewGroupCommitter starts the commit loop over store.
func NewGroupCommitter(store Store) *GroupCommitter {
	c := &GroupCommitter{store: store, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	c.cur = c.newGroup()
	go c.loop()
	return c
}

func (c *GroupCommitter) newGroup() *Group {
	return &Group{b: c.store.NewBatch(), done: make(chan struct{})}
}

// Write runs fn with the open batch under the committer's lock and returns the group the
// mutations belong to. fn must be short and must not call back into the committer.
func (c *GroupCommitter) Write(fn func(Batch)) *Group { return c.WriteFor(CauseOther, fn) }

// WriteFor is Write that counts the group's commit under cause (see CommitsByCauses).
func (c *GroupCommitter) WriteFor(cause Cause, fn func(Batch)) *Group {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		g := &Group{done: make(chan struct{}), err: ErrClosed}
		close(g.done)
		return g
	}
	g := c.cur
	fn(g.b)
	g.causes |= cause
	// Kick under the lock so Close cannot close the channel between check and send.
	select {
	case c.kick <- struct{}{}:
	default:
	}
	c.mu.Unlock()
	return g
}

// WriteThenFor is WriteFor for a caller that does not wait: then runs on the commit loop
// after the group is durable (or failed), so it must be short and must not block.
func (c *GroupCommitter) WriteThenFor(cause Cause, fn func(Batch), then func(error)) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		then(ErrClosed)
		return
	}
	fn(c.cur.b)
	c.cur.causes |= cause
	c.cur.thens = append(c.cur.thens, then)
	select {
	case c.kick <- struct{}{}:
	default:
	}
	c.mu.Unlock()
}

// Stats returns the commits and mutations written so far (for benchmarks).
func (c *GroupCommitter) Stats() (commits, mutations uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commits, c.mutations
}

// Written returns the mutations that reached the store so far: Stats' mutations less those
// the store left out as superseded within their commit (for benchmarks).
func (c *GroupCommitter) Written() uint64 { return c.written.Load() }

func (c *GroupCommitter) countWritten(b Batch, added int) {
	if w, ok := b.(writtenCounter); ok {
		added = w.Written()
	}
	c.written.Add(uint64(added))
}

func (c *GroupCommitter) loop() {
	defer close(c.stopped)
	for range c.kick {
		for {
			c.mu.Lock()
			g := c.cur
			n := g.b.Len()
			if n == 0 {
				closed := c.closed
				c.mu.Unlock()
				if closed {
					return
				}
				break
			}
			c.cur = c.newGroup()
			c.commits++
			c.mutations += uint64(n)
			c.byCauses[g.causes]++
			c.mu.Unlock()
			g.err = c.store.Commit(g.b, true)
			c.countWritten(g.b, n)
			close(g.done)
			for _, then := range g.thens {
				then(g.err)
			}
		}
	}
}

// Close commits what is pending, stops the loop and fails later writes with ErrClosed.
func (c *GroupCommitter) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.stopped
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.kick)
	<-c.stopped
}
