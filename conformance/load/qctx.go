package load

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// queryCtx is the context of one timed query: the run's context bounded
// by the query's deadline. context.WithDeadline costs a runtime timer
// and a registration with its parent on every query, though a target
// such as HTTPTarget only reads the deadline; queryCtx builds that
// context only when Done is first called, and answers Deadline, Err and
// Value without it.
type queryCtx struct {
	parent   context.Context
	deadline time.Time

	once   sync.Once
	built  atomic.Bool
	inner  context.Context
	cancel context.CancelFunc
}

// newQueryCtx returns the context of a query due to end by deadline.
func newQueryCtx(parent context.Context, deadline time.Time) *queryCtx {
	return &queryCtx{parent: parent, deadline: deadline}
}

// build makes the real context behind Done.
func (c *queryCtx) build() context.Context {
	c.once.Do(func() {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
		c.built.Store(true)
	})
	return c.inner
}

// Deadline implements context.Context.
func (c *queryCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *queryCtx) Done() <-chan struct{} { return c.build().Done() }

// Err implements context.Context: the parent's error, else
// context.DeadlineExceeded once the deadline passed.
func (c *queryCtx) Err() error {
	if c.built.Load() {
		return c.inner.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context.
func (c *queryCtx) Value(key any) any { return c.parent.Value(key) }

// release frees what Done built, once the query is over.
func (c *queryCtx) release() {
	if c.built.Load() {
		c.cancel()
	}
}
