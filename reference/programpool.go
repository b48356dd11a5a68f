package reference

import (
	"slices"
	"sync"
)

// programPool keeps compiled programs for reuse, keyed by what they
// compute (for the models, a progKey: the batch size and sequence length
// a graph is built for). A program is used by one caller at a time:
// acquire hands it out and removes it from the pool; the caller gives it
// back with release, or with discard when it must not be reused. It is
// safe for concurrent use.
//
// Two bounds keep its memory in check:
//
//   - Idle programs form a list ordered by release, most recent last;
//     acquire takes the most recently released program of its key.
//     release evicts from the front, least recently used first, while the
//     pool holds more than maxIdle idle programs or, when budget is set,
//     while their total cost exceeds budget; the program just released is
//     always kept.
//   - When maxLive is set, at most maxLive programs exist at once, idle or
//     held (or being built). An acquire that finds no idle program of its
//     key while maxLive exist evicts the least recently used idle program
//     to build its own, and when every program is held it waits until one
//     is released or discarded.
//
// An evicted or discarded program is closed and forgotten, so that nothing
// in the pool keeps it alive.
type programPool[K comparable, P any] struct {
	// build makes a new program for a key; acquire calls it, without
	// holding the pool's lock, when no idle program has the key.
	build func(K) (P, error)
	// close releases an evicted or discarded program's resources.
	close func(P)
	// maxIdle bounds the number of idle programs (at least 1).
	maxIdle int
	// cost, when set, is the share of budget an idle program takes (for
	// the models, the bytes it holds between runs); budget, when positive,
	// bounds the idle programs' total cost.
	cost   func(P) int
	budget int
	// maxLive, when positive, bounds the programs that exist at once.
	maxLive int

	mu      sync.Mutex
	changed sync.Cond           // broadcast when a program is released or discarded; L is &mu
	idle    []idleProgram[K, P] // most recently released last
	live    int                 // programs built or being built, not yet closed
	stats   poolStats           // counters
}

// idleProgram is a program waiting in a programPool with its key.
type idleProgram[K comparable, P any] struct {
	key  K
	prog P
}

// poolStats counts what a programPool did and holds: programs built,
// acquires served by an idle program, idle programs evicted, programs
// discarded after a failed run, and acquires that waited for room.
type poolStats struct {
	Builds, Reuses, Evictions, Discards, Waits int64
	// Idle and Live are the idle programs and the programs in existence
	// (idle, held or being built) when the stats were taken.
	Idle, Live int
}

// acquire takes the most recently released idle program of key out of the
// pool, or builds one, first making room (see programPool) when maxLive
// programs exist. A failed build counts for nothing.
func (p *programPool[K, P]) acquire(key K) (P, error) {
	p.mu.Lock()
	for {
		for i := len(p.idle) - 1; i >= 0; i-- {
			if it := p.idle[i]; it.key == key {
				p.idle = slices.Delete(p.idle, i, i+1)
				p.stats.Reuses++
				p.mu.Unlock()
				return it.prog, nil
			}
		}
		if p.maxLive <= 0 || p.live < p.maxLive {
			break
		}
		if len(p.idle) > 0 {
			p.evictOldest()
			continue
		}
		p.stats.Waits++
		p.changed.L = &p.mu
		p.changed.Wait()
	}
	p.live++
	p.mu.Unlock()
	prog, err := p.build(key)
	p.mu.Lock()
	if err != nil {
		p.live--
		p.changed.Broadcast()
	} else {
		p.stats.Builds++
	}
	p.mu.Unlock()
	return prog, err
}

// release returns prog, a program of key that the caller no longer uses,
// to the pool, evicting and closing the least recently used programs while
// the idle programs are over their bounds (prog itself is always kept).
func (p *programPool[K, P]) release(key K, prog P) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, idleProgram[K, P]{key, prog})
	total := 0
	if p.cost != nil && p.budget > 0 {
		for _, it := range p.idle {
			total += p.cost(it.prog)
		}
	}
	for len(p.idle) > 1 && (len(p.idle) > p.maxIdle || total > p.budget) {
		if p.cost != nil && p.budget > 0 {
			total -= p.cost(p.idle[0].prog)
		}
		p.evictOldest()
	}
	p.changed.Broadcast()
}

// discard closes prog, a program the caller acquired and that must not be
// reused (a failed run may leave it in any state), and makes room for
// another.
func (p *programPool[K, P]) discard(prog P) {
	p.close(prog)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	p.stats.Discards++
	p.changed.Broadcast()
}

// evictOldest closes and forgets the least recently used idle program.
// The caller holds p.mu and has checked that one is idle.
func (p *programPool[K, P]) evictOldest() {
	old := p.idle[0]
	p.idle = slices.Delete(p.idle, 0, 1) // which clears the vacated slot
	p.live--
	p.stats.Evictions++
	p.close(old.prog)
}

// snapshot returns the pool's counters and sizes.
func (p *programPool[K, P]) snapshot() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Idle, s.Live = len(p.idle), p.live
	return s
}
