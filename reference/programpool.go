package reference

import (
	"slices"
	"sync"
)

// programPool keeps compiled programs for reuse, keyed by what they
// compute (for the models, a progKey: the batch size and sequence length
// a graph is built for). A program is used by one caller at a time:
// acquire hands it out and removes it from the pool, release gives it
// back. It is safe for concurrent use.
//
// The idle programs form a list ordered by release, most recent last;
// acquire takes the most recently released program of its key. release
// evicts from the front, least recently used first, while the pool holds
// more than maxIdle programs or, when cost is set, while their total cost
// exceeds budget; the program just released is always kept. An evicted
// program is closed.
type programPool[K comparable, P any] struct {
	// build makes a new program for a key; acquire calls it, without
	// holding the pool's lock, when no idle program has the key.
	build func(K) (P, error)
	// close releases an evicted program's resources.
	close func(P)
	// maxIdle bounds the number of idle programs (at least 1).
	maxIdle int
	// cost, when set, is the share of budget a program of a key takes
	// (the transformer counts positions, batch·length, which its memory
	// grows with); budget bounds the idle programs' total cost.
	cost   func(K) int
	budget int

	mu   sync.Mutex
	idle []idleProgram[K, P] // most recently released last
}

// idleProgram is a program waiting in a programPool with its key.
type idleProgram[K comparable, P any] struct {
	key  K
	prog P
}

// acquire takes the most recently released idle program of key out of the
// pool, or builds one.
func (p *programPool[K, P]) acquire(key K) (P, error) {
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if it := p.idle[i]; it.key == key {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.mu.Unlock()
			return it.prog, nil
		}
	}
	p.mu.Unlock()
	return p.build(key)
}

// release returns prog, a program of key that the caller no longer uses,
// to the pool, evicting and closing the least recently used programs while
// the pool is over its bounds (prog itself is always kept).
func (p *programPool[K, P]) release(key K, prog P) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, idleProgram[K, P]{key, prog})
	total := 0
	if p.cost != nil {
		for _, it := range p.idle {
			total += p.cost(it.key)
		}
	}
	for len(p.idle) > 1 && (len(p.idle) > p.maxIdle || total > p.budget) {
		old := p.idle[0]
		p.idle = slices.Delete(p.idle, 0, 1)
		if p.cost != nil {
			total -= p.cost(old.key)
		}
		p.close(old.prog)
	}
}
