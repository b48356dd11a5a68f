package reference

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// SeedCNNID is the model id of the CNN of the seed document.
const SeedCNNID = "seed-cnn"

// The versions every reference model has: FP32 tensors (the default) and
// FP64 tensors holding the same weights widened exactly.
const (
	VersionFP32 = "fp32"
	VersionFP64 = "fp64"
)

// VersionOf returns the model version whose floating tensors are dtype.
func VersionOf(dtype numerics.DType) (string, error) {
	switch dtype {
	case numerics.FP32:
		return VersionFP32, nil
	case numerics.FP64:
		return VersionFP64, nil
	}
	return "", fmt.Errorf("reference: no model version computes in %q (want FP32 or FP64)", dtype)
}

// Sizes of seed-cnn.
const (
	cnnSide    = 28
	cnnC1      = 32
	cnnC2      = 64
	cnnFlat    = cnnC2 * 7 * 7
	cnnClasses = 10
	// cnnChunk is the largest batch one gorgonia graph computes; larger
	// batches run in chunks, which bounds the memory of a graph and the
	// number of distinct graphs a model ever builds.
	cnnChunk = 16
	// cnnMaxIdle bounds the compiled graphs a model keeps for reuse.
	cnnMaxIdle = 8
)

// SeedCNNWeightSpecs lists seed-cnn's tensors in PyTorch's state_dict names
// and layouts, with their initialisation rules (see package weightgen).
func SeedCNNWeightSpecs() []weightgen.Spec {
	return []weightgen.Spec{
		{Name: "conv1.weight", Shape: []int64{cnnC1, 1, 3, 3}, Init: weightgen.UniformFanIn(1 * 3 * 3)},
		{Name: "conv1.bias", Shape: []int64{cnnC1}, Init: weightgen.UniformFanIn(1 * 3 * 3)},
		{Name: "conv2.weight", Shape: []int64{cnnC2, cnnC1, 3, 3}, Init: weightgen.UniformFanIn(cnnC1 * 3 * 3)},
		{Name: "conv2.bias", Shape: []int64{cnnC2}, Init: weightgen.UniformFanIn(cnnC1 * 3 * 3)},
		{Name: "fc.weight", Shape: []int64{cnnClasses, cnnFlat}, Init: weightgen.UniformFanIn(cnnFlat)},
		{Name: "fc.bias", Shape: []int64{cnnClasses}, Init: weightgen.UniformFanIn(cnnFlat)},
	}
}

// seedCNN is seed-cnn computed with gorgonia.
//
// Concurrency: a gorgonia graph and its tape machine hold their buffers and
// must not run twice at once, so Forward takes a compiled program for its
// batch size from a pool, runs it alone, and returns it to the pool; two
// calls never share a program, and concurrent calls run in parallel on
// programs of their own. Batches larger than cnnChunk run in chunks, so
// programs exist for batch sizes 1…cnnChunk only; at most cnnMaxIdle idle
// programs are kept (the least recently used are dropped). Building a
// program takes a package-wide lock (graphMu); running one does not.
type seedCNN struct {
	version string
	dtype   numerics.DType
	dt      tensor.Dtype
	// weights holds the parameters in the model's dtype ([]float32 or
	// []float64 backing) with the shapes the graph uses; programs copy them.
	weights map[string]any

	mu   sync.Mutex
	idle []*cnnProgram // most recently used last
}

// graphMu serialises graph construction across all models: gorgonia's
// graph builders update package-level state (the counters of
// internal/encoding.NewGroup), which is not safe for concurrent use.
// Running compiled programs needs no lock.
var graphMu sync.Mutex

// cnnProgram is one compiled graph for a fixed batch size.
type cnnProgram struct {
	batch int
	g     *G.ExprGraph
	input *G.Node
	// logits and probs receive copies of the outputs at each run.
	logits, probs G.Value
	vm            G.VM
}

// NewSeedCNN returns seed-cnn at the version computing in dtype (FP32 or
// FP64) with the given weights (names and shapes of SeedCNNWeightSpecs, FP32
// or FP64 values, all finite; FP32 values are widened exactly for FP64, FP64
// values are rounded to nearest for FP32). Extra tensors are an error.
func NewSeedCNN(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	version, err := VersionOf(dtype)
	if err != nil {
		return nil, err
	}
	m := &seedCNN{version: version, dtype: dtype, weights: map[string]any{}}
	if dtype == numerics.FP32 {
		m.dt = tensor.Float32
	} else {
		m.dt = tensor.Float64
	}
	specs := SeedCNNWeightSpecs()
	for _, s := range specs {
		t, ok := weights[s.Name]
		if !ok {
			return nil, fmt.Errorf("reference: %s: weights lack tensor %q", SeedCNNID, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("reference: %s: tensor %q has shape %v, want %v", SeedCNNID, s.Name, t.Shape, s.Shape)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("reference: %s: tensor %q: %w", SeedCNNID, s.Name, err)
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("reference: %s: tensor %q is %s, want FP32 or FP64", SeedCNNID, s.Name, t.DType)
		}
		if i, ok := firstNonFinite(t); ok {
			return nil, fmt.Errorf("reference: %s: tensor %q: element %v is %v, want a finite value", SeedCNNID, s.Name, numerics.IndexOf(t.Shape, i), t.At(i))
		}
		m.weights[s.Name] = convert(t, dtype)
	}
	if len(weights) != len(specs) {
		for name := range weights {
			if !slices.ContainsFunc(specs, func(s weightgen.Spec) bool { return s.Name == name }) {
				return nil, fmt.Errorf("reference: %s: unexpected tensor %q in the weights", SeedCNNID, name)
			}
		}
	}
	// Build one program now, so that a graph construction error surfaces
	// here rather than on the first request.
	p, err := m.build(1)
	if err != nil {
		return nil, err
	}
	m.release(p)
	return m, nil
}

// firstNonFinite returns the flat index of the first NaN or infinity of t.
func firstNonFinite(t numerics.Tensor) (int, bool) {
	for i := 0; i < t.Len(); i++ {
		if v := t.At(i); math.IsNaN(v) || math.IsInf(v, 0) {
			return i, true
		}
	}
	return 0, false
}

// convert returns the elements of t as a new []float32 or []float64.
func convert(t numerics.Tensor, dtype numerics.DType) any {
	if dtype == numerics.FP32 {
		out := make([]float32, t.Len())
		for i := range out {
			out[i] = float32(t.At(i))
		}
		return out
	}
	return t.Float64s()
}

// copyBacking returns a copy of a []float32 or []float64.
func copyBacking(b any) any {
	switch b := b.(type) {
	case []float32:
		return slices.Clone(b)
	case []float64:
		return slices.Clone(b)
	}
	panic(fmt.Sprintf("reference: unexpected backing %T", b))
}

func (m *seedCNN) ID() string      { return SeedCNNID }
func (m *seedCNN) Version() string { return m.version }

func (m *seedCNN) Inputs() []TensorSpec {
	return []TensorSpec{{Name: "input", DType: m.dtype, Shape: []int64{-1, 1, cnnSide, cnnSide}}}
}

func (m *seedCNN) Outputs() []TensorSpec {
	return []TensorSpec{
		{Name: "logits", DType: m.dtype, Shape: []int64{-1, cnnClasses}},
		{Name: "probabilities", DType: m.dtype, Shape: []int64{-1, cnnClasses}},
	}
}

// param adds the named weight to g as a constant-valued tensor node of the
// given shape, over a private copy of its values.
func (m *seedCNN) param(g *G.ExprGraph, name string, shape ...int) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(copyBacking(m.weights[name])))
	return G.NewTensor(g, m.dt, len(shape), G.WithShape(shape...), G.WithValue(v), G.WithName(name))
}

// build compiles the graph of seed-cnn for a batch of n images:
//
//	conv(1→32, 3×3, pad 1) + bias → ReLU → maxpool 2×2/2
//	conv(32→64, 3×3, pad 1) + bias → ReLU → maxpool 2×2/2
//	reshape [n, 3136] (NCHW order) → x·fc.weightᵀ + fc.bias = logits
//	probabilities = exp(logits − rowmax) / Σ exp(logits − rowmax)
//
// gorgonia's Conv2d takes images in NCHW and filters in [out,in,kh,kw], the
// PyTorch layouts. The softmax is composed from Max, Sub, Exp, Sum and Div
// along the class axis because gorgonia's SoftMax op seeds each row's
// maximum with the tensor's first element, which overflows for rows far
// from it.
func (m *seedCNN) build(n int) (p *cnnProgram, err error) {
	graphMu.Lock()
	defer graphMu.Unlock()
	defer func() {
		// gorgonia panics on some shape errors; report them as errors.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("reference: %s: building the graph for batch %d: %v", SeedCNNID, n, r)
		}
	}()
	g := G.NewGraph()
	x := G.NewTensor(g, m.dt, 4, G.WithShape(n, 1, cnnSide, cnnSide), G.WithName("input"))
	block := func(in *G.Node, prefix string, cin, cout int) (*G.Node, error) {
		w := m.param(g, prefix+".weight", cout, cin, 3, 3)
		b := m.param(g, prefix+".bias", 1, cout, 1, 1)
		c, err := G.Conv2d(in, w, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
		if c, err = G.BroadcastAdd(c, b, nil, []byte{0, 2, 3}); err != nil {
			return nil, fmt.Errorf("%s bias: %w", prefix, err)
		}
		if c, err = G.Rectify(c); err != nil {
			return nil, fmt.Errorf("%s relu: %w", prefix, err)
		}
		if c, err = G.MaxPool2D(c, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
			return nil, fmt.Errorf("%s pool: %w", prefix, err)
		}
		return c, nil
	}
	h, err := block(x, "conv1", 1, cnnC1)
	if err != nil {
		return nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
	}
	if h, err = block(h, "conv2", cnnC1, cnnC2); err != nil {
		return nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
	}
	logits, err := m.linear(g, h, n)
	if err != nil {
		return nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
	}
	probs, err := softmaxRows(logits)
	if err != nil {
		return nil, fmt.Errorf("reference: %s: softmax: %w", SeedCNNID, err)
	}
	// The outputs are read through G.Read, which clones a node's value when
	// it is computed and keeps the node's register live until then: the
	// compiler lets element-wise ops overwrite an input in place once
	// nothing else reads it, so logits.Value() itself would hold
	// logits − rowmax after the run.
	p = &cnnProgram{batch: n, g: g, input: x}
	G.Read(logits, &p.logits)
	G.Read(probs, &p.probs)
	p.vm = G.NewTapeMachine(g)
	return p, nil
}

// linear flattens h [n,64,7,7] to [n,3136] and computes h·Wᵀ + b.
func (m *seedCNN) linear(g *G.ExprGraph, h *G.Node, n int) (*G.Node, error) {
	flat, err := G.Reshape(h, tensor.Shape{n, cnnFlat})
	if err != nil {
		return nil, fmt.Errorf("flatten: %w", err)
	}
	wt, err := G.Transpose(m.param(g, "fc.weight", cnnClasses, cnnFlat), 1, 0)
	if err != nil {
		return nil, fmt.Errorf("fc.weight transpose: %w", err)
	}
	y, err := G.Mul(flat, wt)
	if err != nil {
		return nil, fmt.Errorf("fc: %w", err)
	}
	if y, err = G.BroadcastAdd(y, m.param(g, "fc.bias", 1, cnnClasses), nil, []byte{0}); err != nil {
		return nil, fmt.Errorf("fc bias: %w", err)
	}
	return y, nil
}

// softmaxRows is the numerically stable softmax of each row of x [n,k].
func softmaxRows(x *G.Node) (*G.Node, error) {
	mx, err := G.Max(x, 1)
	if err != nil {
		return nil, err
	}
	shifted, err := G.BroadcastSub(x, mx, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	e, err := G.Exp(shifted)
	if err != nil {
		return nil, err
	}
	sum, err := G.Sum(e, 1)
	if err != nil {
		return nil, err
	}
	return G.BroadcastHadamardDiv(e, sum, nil, []byte{1})
}

// acquire takes an idle program for batch n from the pool or builds one.
func (m *seedCNN) acquire(n int) (*cnnProgram, error) {
	m.mu.Lock()
	for i := len(m.idle) - 1; i >= 0; i-- {
		if p := m.idle[i]; p.batch == n {
			m.idle = slices.Delete(m.idle, i, i+1)
			m.mu.Unlock()
			return p, nil
		}
	}
	m.mu.Unlock()
	return m.build(n)
}

// release returns p to the pool, dropping the least recently used program
// when the pool is full.
func (m *seedCNN) release(p *cnnProgram) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.idle = append(m.idle, p)
	if len(m.idle) > cnnMaxIdle {
		old := m.idle[0]
		m.idle = slices.Delete(m.idle, 0, 1)
		old.vm.Close()
	}
}

// Forward computes logits and probabilities for inputs["input"].
func (m *seedCNN) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	x, err := m.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	n := int(x.Shape[0])
	const img = cnnSide * cnnSide
	logits := make([]float64, 0, n*cnnClasses)
	probs := make([]float64, 0, n*cnnClasses)
	for start := 0; start < n; start += cnnChunk {
		size := min(cnnChunk, n-start)
		var chunk any
		if m.dtype == numerics.FP32 {
			chunk = slices.Clone(x.F32[start*img : (start+size)*img])
		} else {
			chunk = slices.Clone(x.F64[start*img : (start+size)*img])
		}
		l, p, err := m.run(size, chunk)
		if err != nil {
			return nil, err
		}
		logits = append(logits, l...)
		probs = append(probs, p...)
	}
	shape := []int64{int64(n), cnnClasses}
	return map[string]numerics.Tensor{
		"logits":        m.tensor(shape, logits),
		"probabilities": m.tensor(shape, probs),
	}, nil
}

// tensor returns vals as a tensor of the model's dtype; for FP32 the values
// came from float32 and convert back exactly.
func (m *seedCNN) tensor(shape []int64, vals []float64) numerics.Tensor {
	if m.dtype == numerics.FP64 {
		return numerics.NewF64(shape, vals)
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return numerics.NewF32(shape, f)
}

// run computes one chunk of n images on a pooled program.
func (m *seedCNN) run(n int, backing any) (logits, probs []float64, err error) {
	p, err := m.acquire(n)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			// A panicking program may be left in any state: drop it.
			p.vm.Close()
			logits, probs, err = nil, nil, fmt.Errorf("reference: %s: gorgonia panicked on a batch of %d: %v", SeedCNNID, n, r)
		}
	}()
	if err := G.Let(p.input, tensor.New(tensor.WithShape(n, 1, cnnSide, cnnSide), tensor.WithBacking(backing))); err != nil {
		p.vm.Close()
		return nil, nil, fmt.Errorf("reference: %s: binding the input: %w", SeedCNNID, err)
	}
	if err := p.vm.RunAll(); err != nil {
		p.vm.Close()
		return nil, nil, fmt.Errorf("reference: %s: running the graph: %w", SeedCNNID, err)
	}
	logits, err = values("logits", p.logits, n*cnnClasses)
	if err == nil {
		probs, err = values("probabilities", p.probs, n*cnnClasses)
	}
	p.vm.Reset()
	if err != nil {
		p.vm.Close()
		return nil, nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
	}
	m.release(p)
	return logits, probs, nil
}

// values copies an output value out of the graph as float64.
func values(name string, v G.Value, want int) ([]float64, error) {
	if v == nil {
		return nil, fmt.Errorf("output %s has no value after the run", name)
	}
	var out []float64
	switch d := v.Data().(type) {
	case []float32:
		out = make([]float64, len(d))
		for i, f := range d {
			out[i] = float64(f)
		}
	case []float64:
		out = slices.Clone(d)
	default:
		return nil, fmt.Errorf("output %s holds %T, want []float32 or []float64", name, d)
	}
	if len(out) != want {
		return nil, fmt.Errorf("output %s holds %d values, want %d", name, len(out), want)
	}
	return out, nil
}

// checkInputs validates the input map against Inputs() and returns the image
// tensor.
func (m *seedCNN) checkInputs(inputs map[string]numerics.Tensor) (numerics.Tensor, error) {
	x, ok := inputs["input"]
	if !ok {
		return x, errors.New(`reference: seed-cnn: missing input "input"`)
	}
	for name := range inputs {
		if name != "input" {
			return x, fmt.Errorf("reference: seed-cnn: unexpected input %q (the only input is \"input\")", name)
		}
	}
	if x.DType != m.dtype {
		return x, fmt.Errorf("reference: seed-cnn %s: input \"input\" has datatype %s, want %s", m.version, x.DType, m.dtype)
	}
	if len(x.Shape) != 4 || x.Shape[0] < 1 || x.Shape[1] != 1 || x.Shape[2] != cnnSide || x.Shape[3] != cnnSide {
		return x, fmt.Errorf("reference: seed-cnn: input \"input\" has shape %v, want [N,1,28,28] with N ≥ 1", x.Shape)
	}
	if err := x.Validate(); err != nil {
		return x, fmt.Errorf("reference: seed-cnn: input \"input\": %w", err)
	}
	if i, bad := firstNonFinite(x); bad {
		return x, fmt.Errorf("reference: seed-cnn: input \"input\" element %v is %v, want a finite value", numerics.IndexOf(x.Shape, i), x.At(i))
	}
	return x, nil
}
