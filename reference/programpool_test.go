package reference

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeProgram stands for a compiled program in the programPool tests.
type fakeProgram struct {
	id  int    // 1, 2, … in build order
	key string // the key it was built for
	// inUse counts the callers holding it (never more than 1), closed
	// whether the pool closed it.
	inUse  atomic.Int32
	closed atomic.Bool
}

// fakePool returns a pool of fakePrograms whose build fails for key "bad",
// whose cost, when given, is that of the program's key, and the list of
// the programs it has built (read it under the pool's lock or after the
// goroutines are done).
func fakePool(maxIdle int, cost func(string) int, budget, maxLive int) (*programPool[string, *fakeProgram], *[]*fakeProgram) {
	var mu sync.Mutex
	var built []*fakeProgram
	var progCost func(*fakeProgram) int
	if cost != nil {
		progCost = func(f *fakeProgram) int { return cost(f.key) }
	}
	p := &programPool[string, *fakeProgram]{
		build: func(k string) (*fakeProgram, error) {
			if k == "bad" {
				return nil, errors.New("cannot build bad")
			}
			mu.Lock()
			defer mu.Unlock()
			f := &fakeProgram{id: len(built) + 1, key: k}
			built = append(built, f)
			return f, nil
		},
		close:   func(f *fakeProgram) { f.closed.Store(true) },
		maxIdle: maxIdle,
		cost:    progCost,
		budget:  budget,
		maxLive: maxLive,
	}
	return p, &built
}

// TestProgramPool runs scripts of acquires, releases and discards and
// checks which program each acquire gets (a reused one or a new build),
// which programs are left idle, in order, which were closed, and how many
// exist.
func TestProgramPool(t *testing.T) {
	// A step acquires key ("+a"), releases the program acquired last for
	// key ("-a") or discards it ("!a"). want lists, per acquire in order,
	// the id of the program it must get (new programs are numbered in
	// build order).
	length := func(k string) int { return len(k) }
	tests := []struct {
		name       string
		maxIdle    int
		cost       func(string) int
		budget     int
		maxLive    int
		steps      []string
		want       []int
		wantIdle   []int // ids, least recently released first
		wantClosed []int
	}{
		{
			name:    "reuse of a released program",
			maxIdle: 4,
			steps:   []string{"+a", "-a", "+a", "-a", "+a"},
			want:    []int{1, 1, 1},
		},
		{
			name:    "a held program is not handed out twice",
			maxIdle: 4,
			steps:   []string{"+a", "+a", "-a", "+a"},
			want:    []int{1, 2, 2},
		},
		{
			name:     "keys do not mix",
			maxIdle:  4,
			steps:    []string{"+a", "+b", "-a", "-b", "+b", "+c"},
			want:     []int{1, 2, 2, 3},
			wantIdle: []int{1},
		},
		{
			name:     "the most recently released program of a key comes first",
			maxIdle:  4,
			steps:    []string{"+a", "+a", "-a", "-a", "+a", "+b", "-b", "-a"},
			want:     []int{1, 2, 1, 3},
			wantIdle: []int{2, 3, 1},
		},
		{
			name:       "least recently used evicted beyond maxIdle",
			maxIdle:    2,
			steps:      []string{"+a", "+b", "+c", "-a", "-b", "-c", "+a", "+b", "-b"},
			want:       []int{1, 2, 3, 4, 2},
			wantIdle:   []int{3, 2},
			wantClosed: []int{1},
		},
		{
			name:       "reuse refreshes a program's place",
			maxIdle:    2,
			steps:      []string{"+a", "+b", "-a", "-b", "+a", "-a", "+c", "-c"},
			want:       []int{1, 2, 1, 3},
			wantIdle:   []int{1, 3},
			wantClosed: []int{2},
		},
		{
			name:       "budget evicts the oldest until the rest fit",
			maxIdle:    10,
			cost:       length,
			budget:     6,
			steps:      []string{"+aa", "+bbb", "+c", "-aa", "-bbb", "-c", "+dd", "-dd"},
			want:       []int{1, 2, 3, 4},
			wantIdle:   []int{2, 3, 4},
			wantClosed: []int{1},
		},
		{
			name:       "a program over the budget alone is kept",
			maxIdle:    10,
			cost:       length,
			budget:     3,
			steps:      []string{"+a", "+bbbbb", "-a", "-bbbbb", "+bbbbb"},
			want:       []int{1, 2, 2},
			wantClosed: []int{1},
		},
		{
			name:       "count and budget both bound",
			maxIdle:    2,
			cost:       length,
			budget:     100,
			steps:      []string{"+a", "+b", "+c", "-a", "-b", "-c"},
			want:       []int{1, 2, 3},
			wantIdle:   []int{2, 3},
			wantClosed: []int{1},
		},
		{
			name:    "a failed build leaves the pool as it was",
			maxIdle: 4,
			steps:   []string{"+a", "-a", "+bad", "+a"},
			want:    []int{1, 0, 1},
		},
		{
			name:     "a failed build leaves its place to another",
			maxIdle:  4,
			maxLive:  1,
			steps:    []string{"+bad", "+a", "-a"},
			want:     []int{0, 1},
			wantIdle: []int{1},
		},
		{
			name:       "a discarded program is closed and never handed out again",
			maxIdle:    4,
			steps:      []string{"+a", "!a", "+a", "-a", "+a"},
			want:       []int{1, 2, 2},
			wantClosed: []int{1},
		},
		{
			name:       "maxLive evicts the least recently used idle program to build",
			maxIdle:    4,
			maxLive:    2,
			steps:      []string{"+a", "+b", "-a", "-b", "+c", "-c", "+a"},
			want:       []int{1, 2, 3, 4},
			wantIdle:   []int{3},
			wantClosed: []int{1, 2},
		},
		{
			name:       "maxLive counts held programs",
			maxIdle:    4,
			maxLive:    3,
			steps:      []string{"+a", "+b", "+c", "-c", "+d", "-a", "+e"},
			want:       []int{1, 2, 3, 4, 5},
			wantIdle:   nil,
			wantClosed: []int{3, 1},
		},
		{
			name:       "a discard makes room under maxLive",
			maxIdle:    4,
			maxLive:    1,
			steps:      []string{"+a", "!a", "+b", "-b"},
			want:       []int{1, 2},
			wantIdle:   []int{2},
			wantClosed: []int{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, built := fakePool(tt.maxIdle, tt.cost, tt.budget, tt.maxLive)
			held := map[string][]*fakeProgram{}
			var got []int
			for _, s := range tt.steps {
				key := s[1:]
				if s[0] == '-' || s[0] == '!' {
					h := held[key]
					if s[0] == '-' {
						pool.release(key, h[len(h)-1])
					} else {
						pool.discard(h[len(h)-1])
					}
					held[key] = h[:len(h)-1]
					continue
				}
				f, err := pool.acquire(key)
				if key == "bad" {
					if err == nil {
						t.Fatalf("acquire(%q) gave program %d, want an error", key, f.id)
					}
					got = append(got, 0)
					continue
				}
				if err != nil {
					t.Fatalf("acquire(%q): %v", key, err)
				}
				if f.key != key || f.closed.Load() {
					t.Fatalf("acquire(%q) gave program %d of key %q (closed %v)", key, f.id, f.key, f.closed.Load())
				}
				got = append(got, f.id)
				held[key] = append(held[key], f)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("acquires got programs %v, want %v", got, tt.want)
			}
			var idle, closed []int
			for _, it := range pool.idle {
				idle = append(idle, it.prog.id)
				if it.key != it.prog.key {
					t.Errorf("program %d of key %q is idle under key %q", it.prog.id, it.prog.key, it.key)
				}
			}
			for _, f := range *built {
				if f.closed.Load() {
					closed = append(closed, f.id)
				}
			}
			if !slices.Equal(idle, tt.wantIdle) {
				t.Errorf("idle programs %v, want %v", idle, tt.wantIdle)
			}
			slices.Sort(closed)
			wantClosed := slices.Sorted(slices.Values(tt.wantClosed))
			if !slices.Equal(closed, wantClosed) {
				t.Errorf("closed programs %v, want %v", closed, wantClosed)
			}
			heldNow := 0
			for _, h := range held {
				heldNow += len(h)
			}
			st := pool.snapshot()
			if st.Live != len(*built)-len(closed) || st.Live != heldNow+len(idle) {
				t.Errorf("pool counts %d live programs; %d built, %d closed, %d held, %d idle", st.Live, len(*built), len(closed), heldNow, len(idle))
			}
			if tt.maxLive > 0 && st.Live > tt.maxLive {
				t.Errorf("%d live programs, want at most %d", st.Live, tt.maxLive)
			}
		})
	}
}

// TestProgramPoolWaitsForRoom checks that an acquire finding maxLive
// programs held waits until one comes back, then gets its program (by
// evicting the one released, or reusing it when its key matches).
func TestProgramPoolWaitsForRoom(t *testing.T) {
	tests := []struct {
		name    string
		key     string // acquired while "a" is held
		discard bool   // "a" is discarded rather than released
		want    int    // id of the program the waiting acquire gets
	}{
		{name: "other key, release", key: "b", want: 2},
		{name: "same key, release", key: "a", want: 1},
		{name: "other key, discard", key: "b", discard: true, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, _ := fakePool(4, nil, 0, 1)
			a, err := pool.acquire("a")
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan *fakeProgram, 1)
			go func() {
				f, err := pool.acquire(tt.key)
				if err != nil {
					t.Error(err)
				}
				got <- f
			}()
			for pool.snapshot().Waits == 0 {
				time.Sleep(time.Millisecond)
			}
			select {
			case f := <-got:
				t.Fatalf("acquire(%q) got program %d while the only program was held", tt.key, f.id)
			case <-time.After(20 * time.Millisecond):
			}
			if tt.discard {
				pool.discard(a)
			} else {
				pool.release("a", a)
			}
			select {
			case f := <-got:
				if f.id != tt.want || f.closed.Load() {
					t.Errorf("acquire(%q) got program %d (closed %v), want %d", tt.key, f.id, f.closed.Load(), tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("acquire(%q) still waits after the held program came back", tt.key)
			}
			if st := pool.snapshot(); st.Live != 1 || st.Idle != 0 {
				t.Errorf("%d live and %d idle programs, want 1 and 0", st.Live, st.Idle)
			}
		})
	}
}

// TestProgramPoolConcurrent acquires, releases and now and then discards
// programs of a few keys from more goroutines than maxLive (run it with
// -race) and checks that no program is held twice at once or handed out
// after being closed, that the bounds hold, idle and live, and that every
// program built ends idle or closed.
func TestProgramPoolConcurrent(t *testing.T) {
	const maxIdle, budget, maxLive = 3, 8, 5
	keys := []string{"a", "bb", "ccc", "dddd"}
	pool, built := fakePool(maxIdle, func(k string) int { return len(k) }, budget, maxLive)
	var existing, most atomic.Int32 // programs built and not closed, and their most
	build, closeProg := pool.build, pool.close
	pool.build = func(k string) (*fakeProgram, error) {
		f, err := build(k)
		if err == nil {
			n := existing.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		}
		return f, err
	}
	pool.close = func(f *fakeProgram) { existing.Add(-1); closeProg(f) }
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				key := keys[(g+i*7)%len(keys)]
				f, err := pool.acquire(key)
				if err != nil {
					errs <- err
					return
				}
				if n := f.inUse.Add(1); n != 1 || f.closed.Load() || f.key != key {
					errs <- fmt.Errorf("acquire(%q) gave program %d of key %q, held by %d, closed %v", key, f.id, f.key, n, f.closed.Load())
					return
				}
				f.inUse.Add(-1)
				if i%50 == 49 {
					pool.discard(f)
					continue
				}
				pool.release(key, f)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idle := map[*fakeProgram]bool{}
	total := 0
	for _, it := range pool.idle {
		idle[it.prog] = true
		total += len(it.key)
	}
	if len(pool.idle) > maxIdle || (len(pool.idle) > 1 && total > budget) {
		t.Errorf("%d idle programs of total cost %d, want at most %d and %d", len(pool.idle), total, maxIdle, budget)
	}
	for _, f := range *built {
		if idle[f] == f.closed.Load() {
			t.Errorf("program %d (key %q) is idle %v and closed %v, want exactly one", f.id, f.key, idle[f], f.closed.Load())
		}
	}
	if m := most.Load(); m > maxLive {
		t.Errorf("%d programs existed at once, want at most %d", m, maxLive)
	}
	if st := pool.snapshot(); st.Live != int(existing.Load()) || st.Live != len(pool.idle) {
		t.Errorf("pool counts %d live programs, %d exist and %d are idle", st.Live, existing.Load(), len(pool.idle))
	}
	// The keys cost more than the bounds allow, so programs were evicted
	// and rebuilt.
	if len(*built) <= len(keys) {
		t.Errorf("%d programs built for %d keys, want evictions and rebuilds", len(*built), len(keys))
	}
}
