package reference

import (
	"fmt"
	"slices"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// SeedRNNID is the model id of the RNN of the seed document.
const SeedRNNID = "seed-rnn"

// Sizes of seed-rnn.
const (
	rnnFeatures = 10
	rnnHidden   = 50
	rnnLayers   = 2
	rnnClasses  = 2
	// rnnMaxSteps is the longest sequence of the input domain (spec v1);
	// the time loop is unrolled into the graph, so it bounds a graph's size.
	rnnMaxSteps = 64
	// rnnChunk is the largest batch one gorgonia graph computes; larger
	// batches run in chunks.
	rnnChunk = 16
	// rnnMaxIdle bounds the compiled graphs a model keeps for reuse.
	rnnMaxIdle = 8
)

// SeedRNNWeightSpecs lists seed-rnn's tensors in the state_dict names and
// layouts of PyTorch's nn.RNN (under "rnn.") and nn.Linear ("fc."), with
// their initialisation rules: every tensor is uniform(1/√50), the bound
// nn.RNN uses for all its parameters (1/√hidden_size); fc's fan-in is 50 too.
func SeedRNNWeightSpecs() []weightgen.Spec {
	init := weightgen.UniformFanIn(rnnHidden)
	var specs []weightgen.Spec
	for l := range rnnLayers {
		in := int64(rnnFeatures)
		if l > 0 {
			in = rnnHidden
		}
		specs = append(specs,
			weightgen.Spec{Name: fmt.Sprintf("rnn.weight_ih_l%d", l), Shape: []int64{rnnHidden, in}, Init: init},
			weightgen.Spec{Name: fmt.Sprintf("rnn.weight_hh_l%d", l), Shape: []int64{rnnHidden, rnnHidden}, Init: init},
			weightgen.Spec{Name: fmt.Sprintf("rnn.bias_ih_l%d", l), Shape: []int64{rnnHidden}, Init: init},
			weightgen.Spec{Name: fmt.Sprintf("rnn.bias_hh_l%d", l), Shape: []int64{rnnHidden}, Init: init},
		)
	}
	return append(specs,
		weightgen.Spec{Name: "fc.weight", Shape: []int64{rnnClasses, rnnHidden}, Init: init},
		weightgen.Spec{Name: "fc.bias", Shape: []int64{rnnClasses}, Init: init},
	)
}

// seedRNN is seed-rnn computed with gorgonia.
//
// Concurrency: as for seed-cnn, Forward takes a compiled program for its
// batch size and sequence length from a pool, runs it alone and returns it;
// two calls never share a program. Batches larger than rnnChunk run in
// chunks, so programs exist for batch sizes 1…rnnChunk and lengths
// 1…rnnMaxSteps only; at most rnnMaxIdle idle programs are kept (the least
// recently used are dropped). Building a program takes graphMu; running
// one does not.
type seedRNN struct {
	version string
	dtype   numerics.DType
	dt      tensor.Dtype
	// weights holds the parameters in the model's dtype ([]float32 or
	// []float64 backing) in their state_dict layouts; programs copy them.
	weights map[string]any

	mu   sync.Mutex
	idle []*rnnProgram // most recently used last
}

// rnnProgram is one compiled graph for a fixed batch size and length.
type rnnProgram struct {
	batch, steps int
	g            *G.ExprGraph
	// inputs[t] is the input node of time step t, [batch, 10].
	inputs []*G.Node
	// logits receives a copy of the output at each run.
	logits G.Value
	vm     G.VM
}

// NewSeedRNN returns seed-rnn at the version computing in dtype (FP32 or
// FP64) with the given weights (names and shapes of SeedRNNWeightSpecs, FP32
// or FP64 values, all finite; FP32 values are widened exactly for FP64, FP64
// values are rounded to nearest for FP32). Extra tensors are an error.
func NewSeedRNN(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	version, err := VersionOf(dtype)
	if err != nil {
		return nil, err
	}
	m := &seedRNN{version: version, dtype: dtype, dt: tensor.Float64}
	if dtype == numerics.FP32 {
		m.dt = tensor.Float32
	}
	if m.weights, err = rnnConvertWeights(weights, dtype); err != nil {
		return nil, err
	}
	// Build one program now, so that a graph construction error surfaces
	// here rather than on the first request.
	p, err := m.build(1, 1)
	if err != nil {
		return nil, err
	}
	m.release(p)
	return m, nil
}

// rnnConvertWeights checks weights against SeedRNNWeightSpecs and returns
// their values in dtype, keyed by name.
func rnnConvertWeights(weights map[string]numerics.Tensor, dtype numerics.DType) (map[string]any, error) {
	specs := SeedRNNWeightSpecs()
	out := map[string]any{}
	for _, s := range specs {
		t, ok := weights[s.Name]
		if !ok {
			return nil, fmt.Errorf("reference: %s: weights lack tensor %q", SeedRNNID, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("reference: %s: tensor %q has shape %v, want %v", SeedRNNID, s.Name, t.Shape, s.Shape)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("reference: %s: tensor %q: %w", SeedRNNID, s.Name, err)
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("reference: %s: tensor %q is %s, want FP32 or FP64", SeedRNNID, s.Name, t.DType)
		}
		if i, ok := firstNonFinite(t); ok {
			return nil, fmt.Errorf("reference: %s: tensor %q: element %v is %v, want a finite value", SeedRNNID, s.Name, numerics.IndexOf(t.Shape, i), t.At(i))
		}
		out[s.Name] = convert(t, dtype)
	}
	for name := range weights {
		if !slices.ContainsFunc(specs, func(s weightgen.Spec) bool { return s.Name == name }) {
			return nil, fmt.Errorf("reference: %s: unexpected tensor %q in the weights", SeedRNNID, name)
		}
	}
	return out, nil
}

func (m *seedRNN) ID() string      { return SeedRNNID }
func (m *seedRNN) Version() string { return m.version }

func (m *seedRNN) Inputs() []TensorSpec {
	return []TensorSpec{{Name: "input", DType: m.dtype, Shape: []int64{-1, -1, rnnFeatures}}}
}

func (m *seedRNN) Outputs() []TensorSpec {
	return []TensorSpec{{Name: "logits", DType: m.dtype, Shape: []int64{-1, rnnClasses}}}
}

// param adds a constant-valued tensor node of the given shape to g over
// vals, a []float32 or []float64 that the node owns.
func (m *seedRNN) param(g *G.ExprGraph, name string, vals any, shape ...int) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
	return G.NewTensor(g, m.dt, len(shape), G.WithShape(shape...), G.WithValue(v), G.WithName(name))
}

// transposed adds the transpose [cols,rows] of the named weight
// [rows,cols] to g as a constant, so that x·Wᵀ is G.Mul(x, transposed).
// Transposing moves values without arithmetic, so it is exact.
func (m *seedRNN) transposed(g *G.ExprGraph, name string, rows, cols int) *G.Node {
	var vals any
	switch w := m.weights[name].(type) {
	case []float32:
		vals = transpose(w, rows, cols)
	case []float64:
		vals = transpose(w, rows, cols)
	}
	return m.param(g, name+"ᵀ", vals, cols, rows)
}

// transpose returns the transpose of the row-major matrix w [rows,cols].
func transpose[T float32 | float64](w []T, rows, cols int) []T {
	out := make([]T, len(w))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = w[r*cols+c]
		}
	}
	return out
}

// tiled adds the named bias [cols] to g repeated in n rows, [n,cols], so
// that adding it to an [n,cols] node needs no broadcast nodes (gorgonia
// builds each broadcast from reshape, size and repeat nodes, and the
// compile time of a graph grows with the square of its node count).
func (m *seedRNN) tiled(g *G.ExprGraph, name string, n int) *G.Node {
	var vals any
	cols := 0
	switch b := m.weights[name].(type) {
	case []float32:
		vals, cols = tile(b, n), len(b)
	case []float64:
		vals, cols = tile(b, n), len(b)
	}
	return m.param(g, name+".rows", vals, n, cols)
}

// tile returns n copies of b, one after the other.
func tile[T float32 | float64](b []T, n int) []T {
	out := make([]T, 0, n*len(b))
	for range n {
		out = append(out, b...)
	}
	return out
}

// build compiles the graph of seed-rnn for n sequences of the given number
// of steps, with the time loop unrolled. One input node per step holds xₜ
// [n,10] (Forward splits the [n,T,10] input by step, which keeps every
// node a matrix: gorgonia drops a slice's unit dimensions, so slicing one
// step out of a batch of 1 would give a vector). For layer l and step t:
//
//	hₜ = tanh((xₜ·W_ihᵀ + b_ih) + (hₜ₋₁·W_hhᵀ + b_hh))
//
// with x the input for layer 0 and layer 0's hₜ for layer 1; at t = 0,
// h₋₁ = 0, so the second term is b_hh alone (exactly what adding a zero
// product gives). logits = h_T·fc.weightᵀ + fc.bias for layer 1's last h.
// The weights enter transposed and the biases tiled to n rows (see tiled).
func (m *seedRNN) build(n, steps int) (p *rnnProgram, err error) {
	graphMu.Lock()
	defer graphMu.Unlock()
	defer func() {
		// gorgonia panics on some shape errors; report them as errors.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("reference: %s: building the graph for batch %d, length %d: %v", SeedRNNID, n, steps, r)
		}
	}()
	g := G.NewGraph()
	xs := make([]*G.Node, steps)
	for t := range xs {
		xs[t] = G.NewTensor(g, m.dt, 2, G.WithShape(n, rnnFeatures), G.WithName(fmt.Sprintf("input.t%d", t)))
	}
	seq := xs
	for l := range rnnLayers {
		in := rnnFeatures
		if l > 0 {
			in = rnnHidden
		}
		if seq, err = m.layer(g, l, in, n, seq); err != nil {
			return nil, fmt.Errorf("reference: %s: layer %d: %w", SeedRNNID, l, err)
		}
	}
	logits, err := affine(seq[steps-1], m.transposed(g, "fc.weight", rnnClasses, rnnHidden), m.tiled(g, "fc.bias", n))
	if err != nil {
		return nil, fmt.Errorf("reference: %s: fc: %w", SeedRNNID, err)
	}
	// Read clones the value when it is computed (see seedCNN.build).
	p = &rnnProgram{batch: n, steps: steps, g: g, inputs: xs}
	G.Read(logits, &p.logits)
	p.vm = G.NewTapeMachine(g)
	return p, nil
}

// affine returns x·wt + b for x [n,k], wt [k,m] (a transposed weight) and
// b [n,m] (a tiled bias).
func affine(x, wt, b *G.Node) (*G.Node, error) {
	y, err := G.Mul(x, wt)
	if err != nil {
		return nil, err
	}
	return G.Add(y, b)
}

// layer adds RNN layer l to g over the sequence xs (each [n,in]) and returns
// its outputs hₜ (each [n,50]).
func (m *seedRNN) layer(g *G.ExprGraph, l, in, n int, xs []*G.Node) ([]*G.Node, error) {
	wih := m.transposed(g, fmt.Sprintf("rnn.weight_ih_l%d", l), rnnHidden, in)
	whh := m.transposed(g, fmt.Sprintf("rnn.weight_hh_l%d", l), rnnHidden, rnnHidden)
	bih := m.tiled(g, fmt.Sprintf("rnn.bias_ih_l%d", l), n)
	bhh := m.tiled(g, fmt.Sprintf("rnn.bias_hh_l%d", l), n)
	hs := make([]*G.Node, len(xs))
	for t, x := range xs {
		pre, err := affine(x, wih, bih)
		if err != nil {
			return nil, fmt.Errorf("step %d input: %w", t, err)
		}
		if t == 0 {
			pre, err = G.Add(pre, bhh)
		} else {
			var rec *G.Node
			if rec, err = affine(hs[t-1], whh, bhh); err == nil {
				pre, err = G.Add(pre, rec)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("step %d recurrence: %w", t, err)
		}
		if hs[t], err = G.Tanh(pre); err != nil {
			return nil, fmt.Errorf("step %d tanh: %w", t, err)
		}
	}
	return hs, nil
}

// acquire takes an idle program for n sequences of the given length from
// the pool or builds one.
func (m *seedRNN) acquire(n, steps int) (*rnnProgram, error) {
	m.mu.Lock()
	for i := len(m.idle) - 1; i >= 0; i-- {
		if p := m.idle[i]; p.batch == n && p.steps == steps {
			m.idle = slices.Delete(m.idle, i, i+1)
			m.mu.Unlock()
			return p, nil
		}
	}
	m.mu.Unlock()
	return m.build(n, steps)
}

// release returns p to the pool, dropping the least recently used program
// when the pool is full.
func (m *seedRNN) release(p *rnnProgram) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.idle = append(m.idle, p)
	if len(m.idle) > rnnMaxIdle {
		old := m.idle[0]
		m.idle = slices.Delete(m.idle, 0, 1)
		old.vm.Close()
	}
}

// Forward computes logits for inputs["input"].
func (m *seedRNN) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	x, err := m.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	n, steps := int(x.Shape[0]), int(x.Shape[1])
	logits := make([]float64, 0, n*rnnClasses)
	for start := 0; start < n; start += rnnChunk {
		size := min(rnnChunk, n-start)
		l, err := m.run(size, steps, m.split(x, start, size))
		if err != nil {
			return nil, err
		}
		logits = append(logits, l...)
	}
	out := numerics.NewF64([]int64{int64(n), rnnClasses}, logits)
	if m.dtype == numerics.FP32 {
		// The values came from float32 and convert back exactly.
		f := make([]float32, len(logits))
		for i, v := range logits {
			f[i] = float32(v)
		}
		out = numerics.NewF32(out.Shape, f)
	}
	return map[string]numerics.Tensor{"logits": out}, nil
}

// split returns, for sequences start…start+size−1 of x [N,T,10], one fresh
// backing ([]float32 or []float64) per step t holding the rows xₜ [size,10].
func (m *seedRNN) split(x numerics.Tensor, start, size int) []any {
	steps := int(x.Shape[1])
	out := make([]any, steps)
	for t := range steps {
		if m.dtype == numerics.FP32 {
			b := make([]float32, 0, size*rnnFeatures)
			for i := start; i < start+size; i++ {
				off := (i*steps + t) * rnnFeatures
				b = append(b, x.F32[off:off+rnnFeatures]...)
			}
			out[t] = b
		} else {
			b := make([]float64, 0, size*rnnFeatures)
			for i := start; i < start+size; i++ {
				off := (i*steps + t) * rnnFeatures
				b = append(b, x.F64[off:off+rnnFeatures]...)
			}
			out[t] = b
		}
	}
	return out
}

// run computes one chunk of n sequences on a pooled program; backings holds
// one input backing per step.
func (m *seedRNN) run(n, steps int, backings []any) (logits []float64, err error) {
	p, err := m.acquire(n, steps)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			// A panicking program may be left in any state: drop it.
			p.vm.Close()
			logits, err = nil, fmt.Errorf("reference: %s: gorgonia panicked on a batch of %d, length %d: %v", SeedRNNID, n, steps, r)
		}
	}()
	for t, b := range backings {
		if err := G.Let(p.inputs[t], tensor.New(tensor.WithShape(n, rnnFeatures), tensor.WithBacking(b))); err != nil {
			p.vm.Close()
			return nil, fmt.Errorf("reference: %s: binding the input of step %d: %w", SeedRNNID, t, err)
		}
	}
	if err := p.vm.RunAll(); err != nil {
		p.vm.Close()
		return nil, fmt.Errorf("reference: %s: running the graph: %w", SeedRNNID, err)
	}
	logits, err = values("logits", p.logits, n*rnnClasses)
	p.vm.Reset()
	if err != nil {
		p.vm.Close()
		return nil, fmt.Errorf("reference: %s: %w", SeedRNNID, err)
	}
	m.release(p)
	return logits, nil
}

// checkInputs validates the input map against Inputs() and the input
// domain's lengths (1 ≤ T ≤ 64) and returns the sequence tensor. Its errors
// blame the request (IsInvalidInput), so that a server answers them 400.
func (m *seedRNN) checkInputs(inputs map[string]numerics.Tensor) (numerics.Tensor, error) {
	x, ok := inputs["input"]
	if !ok {
		return x, invalidInput("reference: seed-rnn: missing input %q", "input")
	}
	for name := range inputs {
		if name != "input" {
			return x, invalidInput("reference: seed-rnn: unexpected input %q (the only input is \"input\")", name)
		}
	}
	if x.DType != m.dtype {
		return x, invalidInput("reference: seed-rnn %s: input \"input\" has datatype %s, want %s", m.version, x.DType, m.dtype)
	}
	if len(x.Shape) != 3 || x.Shape[0] < 1 || x.Shape[1] < 1 || x.Shape[1] > rnnMaxSteps || x.Shape[2] != rnnFeatures {
		return x, invalidInput("reference: seed-rnn: input \"input\" has shape %v, want [N,T,10] with N ≥ 1 and 1 ≤ T ≤ %d", x.Shape, rnnMaxSteps)
	}
	if err := x.Validate(); err != nil {
		return x, invalidInput("reference: seed-rnn: input \"input\": %v", err)
	}
	if i, bad := firstNonFinite(x); bad {
		return x, invalidInput("reference: seed-rnn: input \"input\" element %v is %v, want a finite value", numerics.IndexOf(x.Shape, i), x.At(i))
	}
	return x, nil
}
