package serve

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// Defaults of BatchConfig.
const (
	// DefaultMaxBatch is the most rows a merged batch holds.
	DefaultMaxBatch = 8
	// DefaultMaxDelay is the longest a request waits for others to share
	// its forward pass while another forward pass of the model runs and a
	// worker is free.
	DefaultMaxDelay = 2 * time.Millisecond
	// DefaultMaxQueue bounds the requests one model's batcher holds at once.
	DefaultMaxQueue = 1024
)

// BatchConfig configures dynamic batching (see WithBatching). A zero field
// takes its default; a negative one is an error of New.
type BatchConfig struct {
	// MaxBatch is the most rows of a merged batch (default
	// DefaultMaxBatch). A request of N rows counts N; a request of more
	// than MaxBatch rows runs alone. 1 runs every request alone.
	MaxBatch int
	// MaxDelay is the longest a request waits for others to share its
	// forward pass (default DefaultMaxDelay), and it applies only under
	// load, while at least one forward pass of the model runs: then
	// compatible requests run as one batch once they hold MaxBatch rows or
	// the oldest of them has waited MaxDelay, whichever comes first, as
	// soon as a worker is free, and while every worker is busy they keep
	// gathering, up to MaxBatch rows. A request that arrives while no
	// forward pass of the model runs is dispatched at once, and when the
	// last running forward pass ends, every waiting request is dispatched
	// at once (up to MaxBatch rows a batch): an idle batcher adds no delay.
	MaxDelay time.Duration
	// MaxQueue bounds the requests one model's batcher holds at once,
	// waiting or running (default DefaultMaxQueue); further requests wait
	// for room.
	MaxQueue int
	// Workers bounds the forward passes one model's batcher runs at once
	// (default runtime.GOMAXPROCS(0)).
	Workers int
}

// WithBatching makes New wrap every model in a dynamic batcher: concurrent
// inference requests to the same model version whose inputs are compatible
// (the same inputs present, with the same datatypes and the same
// dimensions after the batch dimension: for seed-rnn the same length, for
// seed-transformer the same length and the same presence of attention_mask)
// are concatenated along the batch dimension, run as one forward pass, and
// each request gets its own rows of the outputs back.
//
// A request is never failed for another's input: when a merged forward
// pass fails, each request of the batch is run alone and gets its own
// answer. A request whose context ends (the server calls ForwardContext,
// see ContextModel) leaves its batch if the batch has not started. Models with an output or input whose first dimension is not the
// variable batch dimension are served unbatched. The batcher starts no
// goroutine that outlives the requests it serves, so a server needs no
// shutdown step for it.
func WithBatching(c BatchConfig) Option {
	return func(cfg *config) { cfg.batching = &c }
}

// resolveBatching checks the batching configuration and fills in its
// defaults.
func (c *config) resolveBatching() error {
	if c.batching == nil {
		return nil
	}
	b := *c.batching
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBatch", int64(b.MaxBatch)},
		{"MaxDelay", int64(b.MaxDelay)},
		{"MaxQueue", int64(b.MaxQueue)},
		{"Workers", int64(b.Workers)},
	} {
		if f.v < 0 {
			return fmt.Errorf("serve: batching: %s is %d, want ≥ 0 (0 takes the default)", f.name, f.v)
		}
	}
	if b.MaxBatch == 0 {
		b.MaxBatch = DefaultMaxBatch
	}
	if b.MaxDelay == 0 {
		b.MaxDelay = DefaultMaxDelay
	}
	if b.MaxQueue == 0 {
		b.MaxQueue = DefaultMaxQueue
	}
	if b.Workers == 0 {
		b.Workers = runtime.GOMAXPROCS(0)
	}
	c.batching = &b
	return nil
}

// batched returns m wrapped in a batcher when batching is configured and m
// can be batched, and m itself otherwise.
func (c *config) batched(m reference.Model) reference.Model {
	if c.batching == nil || !batchable(m) {
		return m
	}
	return newBatcher(m, *c.batching)
}

// batchable reports whether every input and output of m has the variable
// batch dimension first, so that requests can be concatenated and outputs
// split along it.
func batchable(m reference.Model) bool {
	for _, specs := range [][]spec.Tensor{m.Inputs(), m.Outputs()} {
		for _, s := range specs {
			if len(s.Shape) == 0 || s.Shape[0] != -1 {
				return false
			}
		}
	}
	return true
}

// batcher is a reference.Model that merges concurrent Forward calls into
// batches.
//
// Calls wait in a queue per compatibility key, in arrival order. A queue is
// ready to run when it holds MaxBatch rows or more, when its oldest call
// has waited MaxDelay, or when no forward pass of the batcher (of any
// queue) is running; a ready queue runs as soon as a worker is free, as
// one batch of the calls at its front that fit in MaxBatch rows (at least
// one call: a call of more than MaxBatch rows runs alone).
//
// So waiting for company happens only under load, while a forward pass
// runs, when waiting can gather company: a call that arrives at an idle
// batcher (every worker free, hence every queue empty) runs at once, and
// when the last running forward pass ends, every waiting queue becomes
// ready. While at least one forward pass runs and a worker is free, a call
// waits for company at most MaxDelay; while every worker is busy, ready
// queues keep filling up to MaxBatch rows, so that a loaded batcher runs
// full batches.
//
// The batcher has no goroutine of its own: a batch runs on a goroutine
// started when it is dispatched, which ends when its callers have their
// answers, and a timer marks a queue ready when its oldest call has waited
// MaxDelay. So nothing outlives the calls and no shutdown is needed.
//
// Bounds: at most cfg.MaxQueue calls are admitted at once (waiting or
// running); at most cfg.Workers forward passes run at once; each batch
// holds at most cfg.MaxBatch rows, except a single call larger than that.
type batcher struct {
	reference.Model // ID, Version, Inputs and Outputs are the model's

	cfg   BatchConfig
	specs map[string]spec.Tensor

	queue chan struct{} // one token per admitted call

	mu      sync.Mutex
	waiting map[string]*keyQueue // by compatibility key
	ready   []*keyQueue          // queues ready to run, in the order they became so
	idle    int                  // free workers

	// Counters, for tests and benchmarks.
	forwards  atomic.Int64 // forward passes of the model
	merged    atomic.Int64 // forward passes over more than one call
	fallbacks atomic.Int64 // merged passes that failed and were rerun call by call
}

// call is one Forward call waiting for its answer.
type call struct {
	ctx     context.Context
	inputs  map[string]numerics.Tensor
	rows    int
	arrived time.Time
	out     chan result // buffered: the runner never blocks on a caller
	q       *keyQueue   // the queue holding the call; nil once it is dispatched (guarded by mu)
}

// result is the answer to one call.
type result struct {
	outputs map[string]numerics.Tensor
	err     error
}

// keyQueue holds the calls of one compatibility key waiting to run.
type keyQueue struct {
	key   string
	calls []*call
	rows  int
	ready bool        // in batcher.ready
	timer *time.Timer // marks the queue ready when calls[0] has waited MaxDelay
	gen   int         // the generation of timer: a callback of an older one does nothing
}

// batchStats counts what a batcher did.
type batchStats struct {
	Forwards  int64 // forward passes of the model
	Merged    int64 // of them, passes over more than one request
	Fallbacks int64 // merged passes that failed and were rerun request by request
}

// newBatcher wraps m; cfg must have its defaults filled in.
func newBatcher(m reference.Model, cfg BatchConfig) *batcher {
	specs := map[string]spec.Tensor{}
	for _, s := range m.Inputs() {
		specs[s.Name] = s
	}
	return &batcher{
		Model:   m,
		cfg:     cfg,
		specs:   specs,
		queue:   make(chan struct{}, cfg.MaxQueue),
		waiting: map[string]*keyQueue{},
		idle:    cfg.Workers,
	}
}

// stats returns the batcher's counters.
func (b *batcher) stats() batchStats {
	return batchStats{Forwards: b.forwards.Load(), Merged: b.merged.Load(), Fallbacks: b.fallbacks.Load()}
}

// Forward runs inputs, merged with the compatible inputs of concurrent
// calls, and returns the outputs of its own rows.
func (b *batcher) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return b.ForwardContext(context.Background(), inputs)
}

// ForwardContext is Forward for a caller that may give up: once ctx is
// done the call returns ctx.Err() at once, and leaves its queue if its
// batch has not started to run (a batch that has started runs for the
// others and its rows of the answer are dropped).
func (b *batcher) ForwardContext(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	key, rows, ok := b.classify(inputs)
	if !ok {
		// Not a well-formed batch of this model: the model itself says
		// what is wrong, without delaying anyone.
		return b.forward(inputs)
	}
	select {
	case b.queue <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c := &call{ctx: ctx, inputs: inputs, rows: rows, arrived: time.Now(), out: make(chan result, 1)}
	b.mu.Lock()
	b.add(key, c)
	b.mu.Unlock()
	select {
	case r := <-c.out:
		return r.outputs, r.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	q := c.q
	if q != nil {
		b.remove(q, c)
		<-b.queue
	}
	b.mu.Unlock()
	if q == nil {
		// The batch runs already; take the answer if it is there.
		select {
		case r := <-c.out:
			return r.outputs, r.err
		default:
		}
	}
	return nil, ctx.Err()
}

// add appends c to the queue of its key and dispatches what is ready. The
// caller holds b.mu.
func (b *batcher) add(key string, c *call) {
	q := b.waiting[key]
	if q == nil {
		q = &keyQueue{key: key}
		b.waiting[key] = q
	}
	q.calls = append(q.calls, c)
	q.rows += c.rows
	c.q = q
	switch {
	case b.idle == b.cfg.Workers:
		// No forward pass runs, so no queue waits (see settle): waiting
		// could gather no company, so c runs at once.
		b.markReady(q)
	case len(q.calls) == 1:
		b.arm(q)
	}
	if q.rows >= b.cfg.MaxBatch {
		b.markReady(q)
	}
	b.dispatch()
}

// arm starts the timer that marks q ready when its oldest call has waited
// MaxDelay, replacing any earlier timer; q must hold a call. The caller
// holds b.mu.
func (b *batcher) arm(q *keyQueue) {
	if q.timer != nil {
		q.timer.Stop()
	}
	q.gen++
	gen := q.gen
	wait := b.cfg.MaxDelay - time.Since(q.calls[0].arrived)
	q.timer = time.AfterFunc(max(wait, 0), func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if q.gen == gen && len(q.calls) > 0 {
			b.markReady(q)
			b.dispatch()
		}
	})
}

// markReady queues q to run on the next free worker. The caller holds
// b.mu.
func (b *batcher) markReady(q *keyQueue) {
	if !q.ready {
		q.ready = true
		b.ready = append(b.ready, q)
	}
}

// remove takes c, whose caller gave up, out of its queue q. The caller
// holds b.mu.
func (b *batcher) remove(q *keyQueue, c *call) {
	i := slices.Index(q.calls, c)
	q.calls = slices.Delete(q.calls, i, i+1)
	q.rows -= c.rows
	c.q = nil
	switch {
	case len(q.calls) == 0:
		b.drop(q)
	case i == 0:
		b.arm(q)
	}
}

// drop forgets the empty queue q. The caller holds b.mu.
func (b *batcher) drop(q *keyQueue) {
	if q.timer != nil {
		q.timer.Stop()
	}
	q.gen++
	if b.waiting[q.key] == q {
		delete(b.waiting, q.key)
	}
	if q.ready {
		q.ready = false
		b.ready = slices.DeleteFunc(b.ready, func(x *keyQueue) bool { return x == q })
	}
}

// dispatch runs ready queues on free workers: each gives the calls at its
// front that fit in MaxBatch rows (at least one). The caller holds b.mu.
func (b *batcher) dispatch() {
	for b.idle > 0 && len(b.ready) > 0 {
		q := b.ready[0]
		b.ready = b.ready[1:]
		q.ready = false
		n, rows := 0, 0
		for n < len(q.calls) && (n == 0 || rows+q.calls[n].rows <= b.cfg.MaxBatch) {
			rows += q.calls[n].rows
			n++
		}
		batch := slices.Clone(q.calls[:n])
		q.calls = slices.Delete(q.calls, 0, n)
		q.rows -= rows
		for _, c := range batch {
			c.q = nil
		}
		switch {
		case len(q.calls) == 0:
			b.drop(q)
		case q.rows >= b.cfg.MaxBatch || time.Since(q.calls[0].arrived) >= b.cfg.MaxDelay:
			b.markReady(q)
			b.arm(q) // its new oldest call's timer, which will find it ready
		default:
			b.arm(q)
		}
		b.idle--
		go b.run(batch)
	}
}

// settle is called when a forward pass has ended: once none runs, every
// waiting queue is ready (oldest call first), since waiting longer could
// gather no company; then it dispatches what is ready. The caller holds
// b.mu.
func (b *batcher) settle() {
	if b.idle == b.cfg.Workers && len(b.waiting) > 0 {
		qs := make([]*keyQueue, 0, len(b.waiting))
		for _, q := range b.waiting {
			qs = append(qs, q)
		}
		slices.SortFunc(qs, func(x, y *keyQueue) int { return x.calls[0].arrived.Compare(y.calls[0].arrived) })
		for _, q := range qs {
			b.markReady(q)
		}
	}
	b.dispatch()
}

// run runs a dispatched batch on the worker dispatch reserved for it,
// answers each of its calls, and frees the worker.
func (b *batcher) run(calls []*call) {
	defer func() {
		b.mu.Lock()
		b.idle++
		b.settle()
		b.mu.Unlock()
	}()
	live := calls[:0:0]
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			b.finish(c, result{err: err})
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		out, err := b.forward(live[0].inputs)
		b.finish(live[0], result{out, err})
		return
	}
	rows := make([]int, len(live))
	ins := make([]map[string]numerics.Tensor, len(live))
	for i, c := range live {
		rows[i], ins[i] = c.rows, c.inputs
	}
	out, err := b.forward(concatRows(ins, rows))
	b.merged.Add(1)
	var parts []map[string]numerics.Tensor
	if err == nil {
		parts, err = splitRows(out, rows)
	}
	if err != nil {
		// Whatever failed, it may be one caller's fault: answer each
		// call with a forward pass of its own.
		b.fallbacks.Add(1)
		for _, c := range live {
			out, err := b.forward(c.inputs)
			b.finish(c, result{out, err})
		}
		return
	}
	for i, c := range live {
		b.finish(c, result{outputs: parts[i]})
	}
}

// finish answers c and gives back its place in the queue.
func (b *batcher) finish(c *call, r result) {
	c.out <- r
	<-b.queue
}

// forward runs the model once, turning a panic into an error: batches run
// on goroutines of their own, where a panic would end the process.
func (b *batcher) forward(inputs map[string]numerics.Tensor) (out map[string]numerics.Tensor, err error) {
	b.forwards.Add(1)
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("forward panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return b.Model.Forward(inputs)
}

// classify checks that inputs are a well-formed batch of the model (known
// inputs of the declared datatype and rank, consistent sizes, one batch
// size over all inputs) and returns the key of the batches they may join
// and their number of rows. Calls with equal keys can be concatenated
// along the batch dimension.
func (b *batcher) classify(inputs map[string]numerics.Tensor) (key string, rows int, ok bool) {
	if len(inputs) == 0 {
		return "", 0, false
	}
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	slices.Sort(names)
	var k strings.Builder
	rows = -1
	for _, name := range names {
		t, spec := inputs[name], b.specs[name]
		if spec.Name == "" || t.DType != spec.Datatype || len(t.Shape) != len(spec.Shape) || t.Validate() != nil {
			return "", 0, false
		}
		for i, d := range t.Shape {
			if d <= 0 || (spec.Shape[i] != -1 && d != spec.Shape[i]) {
				return "", 0, false
			}
		}
		if rows == -1 {
			rows = int(t.Shape[0])
		} else if int(t.Shape[0]) != rows {
			return "", 0, false
		}
		k.WriteString(name)
		for _, d := range t.Shape[1:] {
			k.WriteByte(',')
			k.WriteString(strconv.FormatInt(d, 10))
		}
		k.WriteByte(';')
	}
	return k.String(), rows, true
}

// concatRows concatenates the inputs of several calls, which share a key,
// along the batch dimension.
func concatRows(ins []map[string]numerics.Tensor, rows []int) map[string]numerics.Tensor {
	total := 0
	for _, n := range rows {
		total += n
	}
	merged := make(map[string]numerics.Tensor, len(ins[0]))
	for name, first := range ins[0] {
		t := numerics.Tensor{DType: first.DType, Shape: slices.Clone(first.Shape)}
		t.Shape[0] = int64(total)
		size := first.Len() / rows[0] * total
		switch t.DType {
		case numerics.FP32:
			t.F32 = make([]float32, 0, size)
		case numerics.FP64:
			t.F64 = make([]float64, 0, size)
		case numerics.INT64:
			t.I64 = make([]int64, 0, size)
		}
		for _, in := range ins {
			x := in[name]
			switch x.DType {
			case numerics.FP32:
				t.F32 = append(t.F32, x.F32...)
			case numerics.FP64:
				t.F64 = append(t.F64, x.F64...)
			case numerics.INT64:
				t.I64 = append(t.I64, x.I64...)
			}
		}
		merged[name] = t
	}
	return merged
}

// splitRows splits each output of a merged forward pass into the rows of
// each call. It fails when an output is not a valid tensor with the merged
// batch size first.
func splitRows(out map[string]numerics.Tensor, rows []int) ([]map[string]numerics.Tensor, error) {
	total := 0
	for _, n := range rows {
		total += n
	}
	parts := make([]map[string]numerics.Tensor, len(rows))
	for i := range parts {
		parts[i] = make(map[string]numerics.Tensor, len(out))
	}
	for name, t := range out {
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("output %q of the merged batch: %w", name, err)
		}
		if len(t.Shape) == 0 || t.Shape[0] != int64(total) {
			return nil, fmt.Errorf("output %q of a merged batch of %d has shape %s, want the batch size first", name, total, formatShape(t.Shape))
		}
		per := t.Len() / total
		off := 0
		for i, n := range rows {
			lo, hi := off*per, (off+n)*per
			p := numerics.Tensor{DType: t.DType, Shape: slices.Clone(t.Shape)}
			p.Shape[0] = int64(n)
			switch t.DType {
			case numerics.FP32:
				p.F32 = t.F32[lo:hi:hi]
			case numerics.FP64:
				p.F64 = t.F64[lo:hi:hi]
			case numerics.INT64:
				p.I64 = t.I64[lo:hi:hi]
			}
			parts[i][name] = p
			off += n
		}
	}
	return parts, nil
}
