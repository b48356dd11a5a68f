package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// never is a MaxDelay no test waits for: a batch under it closes only
// because it is full (or its callers give up).
const never = time.Hour

// seen is one forward pass a recorder ran.
type seen struct {
	rows, width int
	mask        bool
}

// recorder is a fake model that records the batches it runs: input x FP32
// [-1,-1] (its second dimension, the width, plays the part of seed-rnn's
// length) and an optional mask INT64 [-1,-1] of the same shape; output y =
// 2x + mask. A negative x is an invalid input; a NaN in x makes Forward
// panic; an FP64 x is rejected with an input error. While gate is open
// (not nil and not closed) Forward blocks on it.
type recorder struct {
	mu       sync.Mutex
	batches  []seen
	running  int
	maxConc  int
	gate     chan struct{}
	entered  chan struct{} // receives a value (if not nil) as each Forward starts
	duration time.Duration // how long each Forward takes
}

func (r *recorder) ID() string      { return "rec" }
func (r *recorder) Version() string { return "fp32" }
func (r *recorder) Inputs() []spec.Tensor {
	return []spec.Tensor{
		{Name: "x", Datatype: numerics.FP32, Shape: []int64{-1, -1}},
		{Name: "mask", Datatype: numerics.INT64, Shape: []int64{-1, -1}, Optional: true},
	}
}
func (r *recorder) Outputs() []spec.Tensor {
	return []spec.Tensor{{Name: "y", Datatype: numerics.FP32, Shape: []int64{-1, -1}}}
}

func (r *recorder) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	x := in["x"]
	mask, hasMask := in["mask"]
	r.mu.Lock()
	r.batches = append(r.batches, seen{int(x.Shape[0]), int(x.Shape[1]), hasMask})
	r.running++
	r.maxConc = max(r.maxConc, r.running)
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	time.Sleep(r.duration)
	if x.DType != numerics.FP32 {
		return nil, invalidInput{fmt.Sprintf("x is %s, want FP32", x.DType)}
	}
	y := make([]float32, len(x.F32))
	for i, v := range x.F32 {
		switch {
		case math.IsNaN(float64(v)):
			panic("recorder: NaN in x")
		case v < 0:
			return nil, invalidInput{fmt.Sprintf("x[%d] is %v, want ≥ 0", i, v)}
		}
		y[i] = 2 * v
		if hasMask {
			y[i] += float32(mask.I64[i])
		}
	}
	return map[string]numerics.Tensor{"y": numerics.NewF32(x.Shape, y)}, nil
}

// seenBatches returns the batches run so far, sorted.
func (r *recorder) seenBatches() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.batches)
	slices.SortFunc(out, func(a, b seen) int {
		switch {
		case a.rows != b.rows:
			return a.rows - b.rows
		case a.width != b.width:
			return a.width - b.width
		case a.mask != b.mask:
			if a.mask {
				return 1
			}
			return -1
		}
		return 0
	})
	return out
}

// req is one Forward call of a test: rows×width values, all distinct
// across the requests of a test (so that a row handed to the wrong caller
// shows), optionally with a mask.
type req struct {
	rows, width int
	mask        bool
	bad         float32 // if not 0, x[0] is set to it
	fp64        bool    // send x as FP64 (malformed for the recorder)
}

// inputs builds request i's tensors.
func (q req) inputs(i int) map[string]numerics.Tensor {
	x := make([]float32, q.rows*q.width)
	for j := range x {
		x[j] = float32(i*1000 + j)
	}
	if q.bad != 0 {
		x[0] = q.bad
	}
	shape := []int64{int64(q.rows), int64(q.width)}
	in := map[string]numerics.Tensor{"x": numerics.NewF32(shape, x)}
	if q.fp64 {
		in["x"] = numerics.NewF64(shape, in["x"].Float64s())
	}
	if q.mask {
		m := make([]int64, len(x))
		for j := range m {
			m[j] = int64(j % 2)
		}
		in["mask"] = numerics.NewI64(shape, m)
	}
	return in
}

// want is what the recorder answers to request i run alone.
func (q req) want(i int) []float32 {
	in := q.inputs(i)
	y := make([]float32, len(in["x"].F32))
	for j, v := range in["x"].F32 {
		y[j] = 2 * v
		if q.mask {
			y[j] += float32(in["mask"].I64[j])
		}
	}
	return y
}

// answer is what one Forward call returned.
type answer struct {
	out map[string]numerics.Tensor
	err error
}

// newTestBatcher returns a batcher over m with cfg's defaults filled in,
// and checks when the test ends that it left no goroutine behind and no
// place in its queue taken.
func newTestBatcher(t *testing.T, m reference.Model, cfg BatchConfig) *batcher {
	t.Helper()
	c := config{batching: &cfg}
	if err := c.resolveBatching(); err != nil {
		t.Fatalf("resolveBatching: %v", err)
	}
	b := newBatcher(m, *c.batching)
	t.Cleanup(func() {
		checkNoBatcherGoroutines(t)
		if n := len(b.queue); n != 0 {
			t.Errorf("%d places of the queue are still taken after the test", n)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.waiting) != 0 || len(b.ready) != 0 {
			t.Errorf("%d queues wait and %d are ready after the test", len(b.waiting), len(b.ready))
		}
		if b.idle != b.cfg.Workers {
			t.Errorf("%d of %d workers are free after the test", b.idle, b.cfg.Workers)
		}
	})
	return b
}

// loaded makes b behave as under load until the returned function is
// called (or the test ends): it counts one more forward pass in flight, on
// a worker of its own, so that calls wait for company under MaxDelay
// instead of running at once, as they do at an idle batcher. The function
// ends that pass as a real one ends.
func loaded(t *testing.T, b *batcher) (end func()) {
	t.Helper()
	b.mu.Lock()
	b.cfg.Workers++
	b.mu.Unlock()
	var once sync.Once
	end = func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.cfg.Workers--
			b.settle()
		})
	}
	t.Cleanup(end)
	return end
}

// checkNoBatcherGoroutines fails the test if a goroutine is still inside
// the batcher (a batch runner, a timer callback or a caller) once the
// goroutines that are ending have had a second to end.
func checkNoBatcherGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "serve.(*batcher)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines are still in the batcher:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forwardAll sends the requests concurrently and returns their answers in
// order, failing the test if they take more than 10 s.
func forwardAll(t *testing.T, b *batcher, reqs []req) []answer {
	t.Helper()
	answers := make([]answer, len(reqs))
	var wg sync.WaitGroup
	for i, q := range reqs {
		wg.Go(func() {
			out, err := b.Forward(q.inputs(i))
			answers[i] = answer{out, err}
		})
	}
	waitFor(t, &wg, 10*time.Second)
	return answers
}

// waitFor waits for wg, failing the test at once if it takes longer than d.
func waitFor(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("calls still running after %s", d)
	}
}

// checkAnswer fails unless a is request i's own exact answer.
func checkAnswer(t *testing.T, i int, q req, a answer) {
	t.Helper()
	if a.err != nil {
		t.Errorf("request %d: %v", i, a.err)
		return
	}
	y := a.out["y"]
	want := []int64{int64(q.rows), int64(q.width)}
	if !slices.Equal(y.Shape, want) {
		t.Errorf("request %d: y has shape %v, want %v", i, y.Shape, want)
	}
	if !slices.Equal(y.F32, q.want(i)) {
		t.Errorf("request %d: y = %v, want %v", i, y.F32, q.want(i))
	}
}

func TestBatchMerges(t *testing.T) {
	ones := func(n int) []req {
		out := make([]req, n)
		for i := range out {
			out[i] = req{rows: 1, width: 3}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		cfg   BatchConfig
		reqs  []req
		want  []seen
		maxMs int // if not 0, the calls must all be answered within it
	}{
		{"eight single rows make one full batch", BatchConfig{MaxBatch: 8, MaxDelay: never}, ones(8),
			[]seen{{8, 3, false}}, 0},
		{"sixteen single rows make two full batches", BatchConfig{MaxBatch: 8, MaxDelay: never}, ones(16),
			[]seen{{8, 3, false}, {8, 3, false}}, 0},
		{"multi-row requests count their rows", BatchConfig{MaxBatch: 8, MaxDelay: never},
			[]req{{rows: 3, width: 3}, {rows: 2, width: 3}, {rows: 3, width: 3}},
			[]seen{{8, 3, false}}, 0},
		{"a request that does not fit closes the batch", BatchConfig{MaxBatch: 8, MaxDelay: 300 * time.Millisecond},
			[]req{{rows: 3, width: 3}, {rows: 3, width: 3}, {rows: 3, width: 3}},
			[]seen{{3, 3, false}, {6, 3, false}}, 0},
		{"a request over MaxBatch runs alone at once", BatchConfig{MaxBatch: 8, MaxDelay: never},
			[]req{{rows: 10, width: 3}}, []seen{{10, 3, false}}, 0},
		{"a request of MaxBatch rows runs alone at once", BatchConfig{MaxBatch: 4, MaxDelay: never},
			[]req{{rows: 4, width: 3}}, []seen{{4, 3, false}}, 0},
		{"MaxBatch 1 runs each request alone", BatchConfig{MaxBatch: 1, MaxDelay: never}, ones(3),
			[]seen{{1, 3, false}, {1, 3, false}, {1, 3, false}}, 0},
		{"different widths are not merged", BatchConfig{MaxBatch: 8, MaxDelay: 300 * time.Millisecond},
			[]req{{rows: 1, width: 3}, {rows: 1, width: 5}, {rows: 1, width: 3}, {rows: 1, width: 5}},
			[]seen{{2, 3, false}, {2, 5, false}}, 0},
		{"presence of an optional input keeps requests apart", BatchConfig{MaxBatch: 8, MaxDelay: 300 * time.Millisecond},
			[]req{{rows: 1, width: 3, mask: true}, {rows: 1, width: 3}, {rows: 2, width: 3, mask: true}, {rows: 1, width: 3}},
			[]seen{{2, 3, false}, {3, 3, true}}, 0},
		{"a partial batch closes after MaxDelay", BatchConfig{MaxBatch: 8, MaxDelay: 200 * time.Millisecond}, ones(3),
			[]seen{{3, 3, false}}, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			b := newTestBatcher(t, rec, tc.cfg)
			loaded(t, b) // another forward pass runs: the requests gather
			start := time.Now()
			answers := forwardAll(t, b, tc.reqs)
			if tc.maxMs != 0 {
				if d := time.Since(start); d > time.Duration(tc.maxMs)*time.Millisecond {
					t.Errorf("answered after %s, want at most %d ms", d, tc.maxMs)
				}
			}
			for i, a := range answers {
				checkAnswer(t, i, tc.reqs[i], a)
			}
			if got := rec.seenBatches(); !slices.Equal(got, tc.want) {
				t.Errorf("forward passes %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBatchMaxDelayBoundsWait(t *testing.T) {
	const delay = 50 * time.Millisecond
	rec := &recorder{}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 8, MaxDelay: delay})
	loaded(t, b)
	start := time.Now()
	out, err := b.Forward(req{rows: 1, width: 2}.inputs(0))
	d := time.Since(start)
	checkAnswer(t, 0, req{rows: 1, width: 2}, answer{out, err})
	// Under load, a lone request waits for company for MaxDelay, and not
	// much longer.
	if d < delay || d > delay+time.Second {
		t.Errorf("a lone request under load was answered after %s, want MaxDelay (%s) and at most 1 s more", d, delay)
	}
	if got := rec.seenBatches(); !slices.Equal(got, []seen{{1, 2, false}}) {
		t.Errorf("forward passes %v, want one of 1 row", got)
	}
}

// An idle batcher adds no delay: a call that arrives while no forward pass
// runs runs at once, and calls that gathered while one ran (not before
// their MaxDelay) run as soon as it ends.
func TestBatchIdleRunsAtOnce(t *testing.T) {
	const delay = time.Second
	rec := &recorder{}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 8, MaxDelay: delay, Workers: 2})
	for i := range 3 {
		q := req{rows: 1, width: 2}
		start := time.Now()
		out, err := b.Forward(q.inputs(i))
		d := time.Since(start)
		checkAnswer(t, i, q, answer{out, err})
		if d >= delay/2 {
			t.Errorf("lone call %d at an idle batcher was answered after %s, want at once (MaxDelay is %s)", i, d, delay)
		}
	}

	// Under load: call 3 arrives at the idle batcher, runs at once and
	// blocks; calls 4 to 6 arrive while it runs and a worker is free, so
	// they wait for company, the compatible ones together.
	gate := make(chan struct{})
	rec.mu.Lock()
	rec.gate, rec.entered = gate, make(chan struct{}, 8)
	rec.mu.Unlock()
	reqs := []req{3: {rows: 1, width: 3}, 4: {rows: 1, width: 2}, 5: {rows: 2, width: 2}, 6: {rows: 1, width: 5}}
	answers := make([]answer, len(reqs))
	var wg sync.WaitGroup
	send := func(i int) {
		wg.Go(func() {
			out, err := b.Forward(reqs[i].inputs(i))
			answers[i] = answer{out, err}
		})
	}
	send(3)
	select {
	case <-rec.entered:
	case <-time.After(delay / 2):
		t.Fatal("a call at an idle batcher did not start at once")
	}
	for i := 4; i < len(reqs); i++ {
		send(i)
	}
	waitOpen(t, b, 3)
	time.Sleep(20 * time.Millisecond)
	waitOpen(t, b, 3) // still waiting, with a worker free
	// The running pass ends: no forward pass runs any more, so the
	// waiting calls run at once, merged.
	start := time.Now()
	close(gate)
	waitFor(t, &wg, 10*time.Second)
	if d := time.Since(start); d >= delay/2 {
		t.Errorf("the calls that waited were answered %s after the running pass ended, want at once (MaxDelay is %s)", d, delay)
	}
	for i := 3; i < len(reqs); i++ {
		checkAnswer(t, i, reqs[i], answers[i])
	}
	want := []seen{{1, 2, false}, {1, 2, false}, {1, 2, false}, {1, 3, false}, {1, 5, false}, {3, 2, false}}
	if got := rec.seenBatches(); !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
	if got := b.stats().Merged; got != 1 {
		t.Errorf("%d merged forward passes, want 1", got)
	}
}

func TestBatchBadInputFailsOnlyItsCaller(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bad       req
		errSays   string
		inputErr  bool
		want      []seen // forward passes
		fallbacks int64
	}{
		{"input error", req{rows: 1, width: 2, bad: -1}, "want ≥ 0", true,
			[]seen{{1, 2, false}, {1, 2, false}, {1, 2, false}, {1, 2, false}, {4, 2, false}}, 1},
		{"panic", req{rows: 1, width: 2, bad: float32(math.NaN())}, "panicked", false,
			[]seen{{1, 2, false}, {1, 2, false}, {1, 2, false}, {1, 2, false}, {4, 2, false}}, 1},
		// A request that is not a well-formed batch of the model goes to
		// the model alone and at once, which says what is wrong.
		{"malformed", req{rows: 1, width: 2, fp64: true}, "x is FP64", true,
			[]seen{{1, 2, false}, {3, 2, false}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			maxBatch := 4
			if tc.fallbacks == 0 {
				maxBatch = 3
			}
			b := newTestBatcher(t, rec, BatchConfig{MaxBatch: maxBatch, MaxDelay: never})
			loaded(t, b)
			good := req{rows: 1, width: 2}
			reqs := []req{good, good, tc.bad, good}
			answers := forwardAll(t, b, reqs)
			for i, a := range answers {
				if i == 2 {
					if a.err == nil || !strings.Contains(a.err.Error(), tc.errSays) {
						t.Errorf("bad request: error %v, want one that says %q", a.err, tc.errSays)
					}
					if got := reference.IsInvalidInput(a.err); got != tc.inputErr {
						t.Errorf("bad request: IsInvalidInput(%v) = %v, want %v", a.err, got, tc.inputErr)
					}
					continue
				}
				checkAnswer(t, i, reqs[i], a)
			}
			if got := rec.seenBatches(); !slices.Equal(got, tc.want) {
				t.Errorf("forward passes %v, want %v", got, tc.want)
			}
			if got := b.stats().Fallbacks; got != tc.fallbacks {
				t.Errorf("fallbacks = %d, want %d", got, tc.fallbacks)
			}
		})
	}
}

// splitter is a recorder whose merged answers cannot be split: it answers
// a batch of more than one row with one row.
type splitter struct{ recorder }

func (s *splitter) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	out, err := s.recorder.Forward(in)
	if err == nil && out["y"].Shape[0] > 1 {
		y := out["y"]
		w := int(y.Shape[1])
		out["y"] = numerics.NewF32([]int64{1, int64(w)}, y.F32[:w])
	}
	return out, err
}

func TestBatchUnsplittableOutputFallsBack(t *testing.T) {
	m := &splitter{}
	b := newTestBatcher(t, m, BatchConfig{MaxBatch: 2, MaxDelay: never})
	loaded(t, b)
	reqs := []req{{rows: 1, width: 2}, {rows: 1, width: 2}}
	for i, a := range forwardAll(t, b, reqs) {
		checkAnswer(t, i, reqs[i], a)
	}
	if got, want := m.seenBatches(), []seen{{1, 2, false}, {1, 2, false}, {2, 2, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}

// waitOpen waits until b's queues hold n calls in all.
func waitOpen(t *testing.T, b *batcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := 0
		for _, q := range b.waiting {
			got += len(q.calls)
		}
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queues hold %d calls, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBatchCallerCancelledWhileWaiting(t *testing.T) {
	rec := &recorder{}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 2, MaxDelay: never})
	loaded(t, b) // the call waits for company
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := b.ForwardContext(ctx, req{rows: 1, width: 2}.inputs(9))
		errc <- err
	}()
	waitOpen(t, b, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled call is still waiting for its batch")
	}
	waitOpen(t, b, 0)
	// The cancelled call left its batch: the next two make a batch of
	// their own.
	reqs := []req{{rows: 1, width: 2}, {rows: 1, width: 2}}
	for i, a := range forwardAll(t, b, reqs) {
		checkAnswer(t, i, reqs[i], a)
	}
	if got, want := rec.seenBatches(), []seen{{2, 2, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}

func TestBatchCallerCancelledWhileRunning(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 2, MaxDelay: never})
	loaded(t, b) // the two calls gather into one batch
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := b.ForwardContext(ctx, req{rows: 1, width: 2}.inputs(0))
		errc <- err
	}()
	other := make(chan answer, 1)
	go func() {
		out, err := b.Forward(req{rows: 1, width: 2}.inputs(1))
		other <- answer{out, err}
	}()
	<-rec.entered // the merged batch runs, and blocks on the gate
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled call: error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled call waits for its running batch")
	}
	close(rec.gate)
	select {
	case a := <-other:
		checkAnswer(t, 1, req{rows: 1, width: 2}, a)
	case <-time.After(5 * time.Second):
		t.Fatal("the other call of the batch got no answer")
	}
	if got, want := rec.seenBatches(), []seen{{2, 2, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}

func TestBatchQueueIsBounded(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 1, MaxDelay: never, MaxQueue: 1})
	first := make(chan answer, 1)
	go func() {
		out, err := b.Forward(req{rows: 1, width: 2}.inputs(0))
		first <- answer{out, err}
	}()
	<-rec.entered
	// The queue is full: a second call waits for room until it gives up.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := b.ForwardContext(ctx, req{rows: 1, width: 2}.inputs(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call over the queue bound: error %v, want context.DeadlineExceeded", err)
	}
	close(rec.gate)
	checkAnswer(t, 0, req{rows: 1, width: 2}, <-first)
	if got, want := rec.seenBatches(), []seen{{1, 2, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}

func TestBatchFillsWhileWorkersBusy(t *testing.T) {
	const delay = 10 * time.Millisecond
	rec := &recorder{gate: make(chan struct{}), entered: make(chan struct{}, 8)}
	b := newTestBatcher(t, rec, BatchConfig{MaxBatch: 4, MaxDelay: delay, Workers: 1})
	reqs := []req{{rows: 1, width: 2}, {rows: 1, width: 2}, {rows: 1, width: 2}, {rows: 2, width: 2}}
	answers := make([]answer, len(reqs))
	var wg sync.WaitGroup
	send := func(i int) {
		wg.Go(func() {
			out, err := b.Forward(reqs[i].inputs(i))
			answers[i] = answer{out, err}
		})
		waitOpen(t, b, i)
	}
	wg.Go(func() {
		out, err := b.Forward(reqs[0].inputs(0))
		answers[0] = answer{out, err}
	})
	<-rec.entered // request 0 arrives at an idle batcher, runs alone at once and holds the only worker
	send(1)
	// Request 1 waits past MaxDelay, but no worker is free: its batch
	// stays open, and the next requests join it.
	time.Sleep(3 * delay)
	send(2)
	send(3)
	close(rec.gate)
	waitFor(t, &wg, 10*time.Second)
	for i, a := range answers {
		checkAnswer(t, i, reqs[i], a)
	}
	if got, want := rec.seenBatches(), []seen{{1, 2, false}, {4, 2, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}

func TestBatchWorkersBound(t *testing.T) {
	for _, tc := range []struct{ workers, maxBatch int }{{1, 1}, {2, 1}, {1, 2}, {2, 2}} {
		t.Run(fmt.Sprintf("workers %d max batch %d", tc.workers, tc.maxBatch), func(t *testing.T) {
			rec := &recorder{duration: 5 * time.Millisecond}
			b := newTestBatcher(t, rec, BatchConfig{MaxBatch: tc.maxBatch, MaxDelay: never, Workers: tc.workers})
			loaded(t, b) // on a worker of its own: the bound stays tc.workers
			reqs := make([]req, 8)
			for i := range reqs {
				reqs[i] = req{rows: 1, width: 2}
			}
			for i, a := range forwardAll(t, b, reqs) {
				checkAnswer(t, i, reqs[i], a)
			}
			if rec.maxConc > tc.workers {
				t.Errorf("%d forward passes ran at once, want at most %d", rec.maxConc, tc.workers)
			}
			if got, want := len(rec.seenBatches()), len(reqs)/tc.maxBatch; got != want {
				t.Errorf("%d forward passes, want %d", got, want)
			}
		})
	}
}

func TestBatchConfig(t *testing.T) {
	c := config{batching: &BatchConfig{}}
	if err := c.resolveBatching(); err != nil {
		t.Fatal(err)
	}
	want := BatchConfig{MaxBatch: DefaultMaxBatch, MaxDelay: DefaultMaxDelay, MaxQueue: DefaultMaxQueue, Workers: runtime.GOMAXPROCS(0)}
	if *c.batching != want {
		t.Errorf("defaults %+v, want %+v", *c.batching, want)
	}
	for _, bad := range []BatchConfig{{MaxBatch: -1}, {MaxDelay: -time.Millisecond}, {MaxQueue: -1}, {Workers: -2}} {
		_, err := New(testModels(), WithBatching(bad))
		if err == nil || !strings.Contains(err.Error(), "want ≥ 0") {
			t.Errorf("New with %+v: error %v, want one that rejects the negative field", bad, err)
		}
	}
}

func TestWithBatchingWrapsBatchableModels(t *testing.T) {
	scalarOut := &fakeModel{
		id: "scalar", version: "fp32",
		inputs:  []spec.Tensor{{Name: "x", Datatype: numerics.FP32, Shape: []int64{-1, 2}}},
		outputs: []spec.Tensor{{Name: "total", Datatype: numerics.FP32, Shape: []int64{1}}},
	}
	s, err := New(append(testModels(), scalarOut), WithBatching(BatchConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	for id, e := range s.models {
		for v, m := range e.versions {
			_, isBatcher := m.(*batcher)
			if want := id != "scalar"; isBatcher != want {
				t.Errorf("model %s %s: batched = %v, want %v", id, v, isBatcher, want)
			}
		}
	}
	s, err = New(testModels())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.models["echo-sum"].versions["fp32"].(*batcher); ok {
		t.Error("without WithBatching the models are batched")
	}
}

func TestBatchingOverHTTP(t *testing.T) {
	rec := &recorder{}
	batched, err := New([]reference.Model{rec}, WithBatching(BatchConfig{MaxBatch: 4, MaxDelay: never}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkNoBatcherGoroutines(t) })
	loaded(t, batched.models["rec"].versions["fp32"].(*batcher)) // the four requests gather
	plain, err := New([]reference.Model{&recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	body := func(i int) string {
		return fmt.Sprintf(`{"id":"r%d","inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[%d,%d.5,%d]}]}`, i, i, i, 2*i)
	}
	got := make([]response, 4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = do(t, batched.Handler(), "POST", "/v2/models/rec/infer", body(i), nil) })
	}
	waitFor(t, &wg, 10*time.Second)
	for i, r := range got {
		want := do(t, plain.Handler(), "POST", "/v2/models/rec/infer", body(i), nil)
		if r.status != 200 || want.status != 200 || string(r.body) != string(want.body) {
			t.Errorf("request %d: batched server answered %d %s, unbatched %d %s", i, r.status, r.body, want.status, want.body)
		}
	}
	if got, want := rec.seenBatches(), []seen{{4, 3, false}}; !slices.Equal(got, want) {
		t.Errorf("forward passes %v, want %v", got, want)
	}
}
