package reference

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
	"github.com/aiconform/aiconform/spec"
)

// This file holds the plumbing the gorgonia models (seed-cnn, seed-rnn,
// seed-transformer) share: weight checking and conversion, the compiled
// programs and their pool, running a program on a chunk of a batch, input
// checks, and the conversions between numerics tensors and graph backings.

// graphMu serialises graph construction across all models: gorgonia's
// graph builders update package-level state (the counters of
// internal/encoding.NewGroup), which is not safe for concurrent use.
// Running compiled programs needs no lock.
var graphMu sync.Mutex

// The tensor package keeps a free list of tensor headers, which gorgonia
// fills when it unbinds a node's value, as run does after every run. Two
// nodes may hold the same tensor (an op that writes in place returns its
// input), and a header given back twice would be handed to two owners, so
// the free list is turned off; headers are then left to the garbage
// collector, like every other allocation.
func init() { tensor.DontUsePool() }

// Bounds of each model's pool of compiled programs (see programPool), per
// model id and version. A program holds its graph (about 1 KiB a node),
// its private copy of the model's weights (seed-transformer: about 5 MB in
// FP32 and 10 MB in FP64; seed-cnn and seed-rnn: under 0.5 MB) and its
// inputs between runs; the values a run computes (up to 90 MB in FP32 and
// 175 MB in FP64 for seed-transformer on 8 sequences of 64) are dropped
// when the run ends.
const (
	// MaxIdlePrograms bounds the compiled programs a model keeps for reuse
	// between requests, each for one batch size and sequence length; the
	// least recently used is closed first.
	MaxIdlePrograms = 8
	// IdleProgramBytes bounds the memory those idle programs hold in all
	// (about 6 seed-transformer programs in FP32, 3 in FP64).
	IdleProgramBytes = 32 << 20
)

// MaxLivePrograms returns the bound on the programs a model built now has
// at once, idle or running: GOMAXPROCS (at least 2). It bounds the model's
// forward passes running at once (more than the CPUs would only share
// them) and so the memory of their computed values; further calls wait
// for a program to come back.
func MaxLivePrograms() int { return max(runtime.GOMAXPROCS(0), 2) }

// nodeBytes is the memory a graph node takes, about, besides its value.
const nodeBytes = 1 << 10

// progKey is what a compiled program is built for: a batch size and, for
// the sequence models, a sequence length (0 for seed-cnn).
type progKey struct {
	batch, length int
}

// String describes the key in errors: "batch 3" or "batch 3, length 7".
func (k progKey) String() string {
	if k.length == 0 {
		return fmt.Sprintf("batch %d", k.batch)
	}
	return fmt.Sprintf("batch %d, length %d", k.batch, k.length)
}

// graphPool is the pool of a model's compiled programs.
type graphPool = programPool[progKey, *program]

// program is one compiled gorgonia graph for a fixed progKey: its tape
// machine, the input nodes each run binds, and the outputs it reads.
//
// A gorgonia graph and its tape machine hold their buffers and must not run
// twice at once, so a model's Forward takes a program for its shape from
// the model's pool, runs it alone and returns it: two calls never share a
// program, and concurrent calls run in parallel on programs of their own.
type program struct {
	g       *G.ExprGraph
	vm      G.VM
	inputs  []programInput
	outputs []programOutput
	// bytes is the memory the program holds between runs, about: its
	// graph's constant values, its inputs and outputs, and nodeBytes a
	// node.
	bytes int
}

// programInput is an input node of a program, bound anew at each run.
type programInput struct {
	node *G.Node
	// what names the input in errors: "the input", "the mask".
	what string
}

// programOutput is an output of a program.
type programOutput struct {
	// name is the output's name in Outputs(), size its number of values.
	name string
	size int
	node *G.Node
	// value receives a copy of the node's value at each run (see compile).
	value G.Value
}

// close releases the program's tape machine.
func (p *program) close() { p.vm.Close() }

// newGraphPool returns a pool of programs made by build, within
// MaxIdlePrograms, IdleProgramBytes and MaxLivePrograms.
func newGraphPool(build func(progKey) (*program, error)) *graphPool {
	return &graphPool{
		build:   build,
		close:   (*program).close,
		maxIdle: MaxIdlePrograms,
		cost:    func(p *program) int { return p.bytes },
		budget:  IdleProgramBytes,
		maxLive: MaxLivePrograms(),
	}
}

// graphModel is the part of a gorgonia model that does not depend on its
// architecture; the models embed it.
type graphModel struct {
	id, version string
	// contract is the served interface of the model at its version.
	contract spec.Contract
	dtype    numerics.DType
	dt       tensor.Dtype
	// params holds the parameters the graphs use, keyed by graph name, in
	// the model's dtype ([]float32 or []float64 backings): the weights with
	// their state_dict names, unless the model derives others from them;
	// param copies them into each program.
	params map[string]any
	pool   *graphPool
}

// newGraphModel returns the shared part of model id at the version
// computing in dtype (FP32 or FP64), with weights checked against specs and
// converted to dtype as its params (see convertWeights), and no pool yet.
func newGraphModel(id string, dtype numerics.DType, specs []weightgen.Spec, weights map[string]numerics.Tensor) (graphModel, error) {
	version, err := VersionOf(dtype)
	if err != nil {
		return graphModel{}, err
	}
	c, err := spec.ModelContract(id, version)
	if err != nil {
		return graphModel{}, fmt.Errorf("reference: %w", err)
	}
	m := graphModel{id: id, version: version, contract: c, dtype: dtype, dt: tensor.Float64}
	if dtype == numerics.FP32 {
		m.dt = tensor.Float32
	}
	if m.params, err = convertWeights(id, specs, weights, dtype); err != nil {
		return graphModel{}, err
	}
	return m, nil
}

// ID returns the model id.
func (m *graphModel) ID() string { return m.id }

// Version returns the model version, VersionFP32 or VersionFP64.
func (m *graphModel) Version() string { return m.version }

// Inputs returns the inputs of the model's contract.
func (m *graphModel) Inputs() []spec.Tensor { return slices.Clone(m.contract.Inputs) }

// Outputs returns the outputs of the model's contract.
func (m *graphModel) Outputs() []spec.Tensor { return slices.Clone(m.contract.Outputs) }

// start gives the model its pool and builds the program of key in it, so
// that a graph construction error surfaces in the constructor rather than
// on the first request.
func (m *graphModel) start(pool *graphPool, key progKey) error {
	m.pool = pool
	p, err := pool.acquire(key)
	if err != nil {
		return err
	}
	pool.release(key, p)
	return nil
}

// compile builds the program of key: define adds the model's graph to g
// and returns its inputs and outputs. It holds graphMu and reports a
// gorgonia panic (gorgonia panics on some shape errors) as an error.
//
// The outputs are read through G.Read, which clones a node's value when it
// is computed and keeps the node's register live until then: the compiler
// lets element-wise ops overwrite an input in place once nothing else
// reads it, so a node's Value() itself might be overwritten (the logits by
// logits − rowmax in seed-cnn's softmax) by the end of the run.
func (m *graphModel) compile(key progKey, define func(g *G.ExprGraph) ([]programInput, []programOutput, error)) (p *program, err error) {
	graphMu.Lock()
	defer graphMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("reference: %s: building the graph for %v: %v", m.id, key, r)
		}
	}()
	g := G.NewGraph()
	inputs, outputs, err := define(g)
	if err != nil {
		return nil, err
	}
	p = &program{g: g, inputs: inputs, outputs: outputs}
	for _, n := range g.AllNodes() {
		p.bytes += nodeBytes
		if v := n.Value(); v != nil {
			p.bytes += int(v.MemSize())
		}
	}
	for _, in := range inputs {
		p.bytes += in.node.Shape().TotalSize() * int(m.dt.Size())
	}
	for _, o := range outputs {
		p.bytes += o.size * int(m.dt.Size())
	}
	for i := range p.outputs {
		G.Read(p.outputs[i].node, &p.outputs[i].value)
	}
	p.vm = G.NewTapeMachine(g)
	return p, nil
}

// run computes one chunk of shape key on a pooled program: it binds
// backings[i] (a []float32 or []float64 the program keeps until its next
// run) to input i, runs the graph and returns each output as float64. The
// values the run computed are dropped before the program goes back to the
// pool: the next run allocates its own anyway (the tape machine's Reset
// forgets them), and an idle program keeps only what it needs to run. A
// program that fails or panics may be left in any state: it is discarded
// instead of going back to the pool.
func (m *graphModel) run(key progKey, backings []any) (outs [][]float64, err error) {
	p, err := m.pool.acquire(key)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			m.pool.discard(p)
			outs, err = nil, fmt.Errorf("reference: %s: gorgonia panicked on %v: %v", m.id, key, r)
		}
	}()
	for i, in := range p.inputs {
		if err := G.Let(in.node, tensor.New(tensor.WithShape(in.node.Shape()...), tensor.WithBacking(backings[i]))); err != nil {
			m.pool.discard(p)
			return nil, fmt.Errorf("reference: %s: binding %s: %w", m.id, in.what, err)
		}
	}
	if err := p.vm.RunAll(); err != nil {
		m.pool.discard(p)
		return nil, fmt.Errorf("reference: %s: running the graph: %w", m.id, err)
	}
	outs = make([][]float64, len(p.outputs))
	for i, o := range p.outputs {
		if outs[i], err = values(o.name, o.value, o.size); err != nil {
			break
		}
	}
	p.vm.Reset()
	p.g.UnbindAllNonInputs()
	if err != nil {
		m.pool.discard(p)
		return nil, fmt.Errorf("reference: %s: %w", m.id, err)
	}
	m.pool.release(key, p)
	return outs, nil
}

// forward computes a batch of n items in chunks of at most most items
// (which bounds the memory of a graph and the number of distinct graphs a
// model builds): chunk returns the key and the input backings of items
// start…start+size−1. forward returns each output concatenated over the
// chunks.
func (m *graphModel) forward(n, most int, chunk func(start, size int) (progKey, []any)) ([][]float64, error) {
	var outs [][]float64
	for start := 0; start < n; start += most {
		key, backings := chunk(start, min(most, n-start))
		o, err := m.run(key, backings)
		if err != nil {
			return nil, err
		}
		if outs == nil {
			outs = make([][]float64, len(o))
		}
		for i := range o {
			outs[i] = append(outs[i], o[i]...)
		}
	}
	return outs, nil
}

// tensor returns vals as a tensor of the model's dtype; for FP32 the values
// came from float32 and convert back exactly.
func (m *graphModel) tensor(shape []int64, vals []float64) numerics.Tensor {
	if m.dtype == numerics.FP64 {
		return numerics.NewF64(shape, vals)
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return numerics.NewF32(shape, f)
}

// constant adds a constant-valued tensor node of the given shape to g over
// vals, a []float32 or []float64 of the model's dtype that the node owns.
func (m *graphModel) constant(g *G.ExprGraph, name string, vals any, shape ...int) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
	return G.NewTensor(g, m.dt, len(shape), G.WithShape(shape...), G.WithValue(v), G.WithName(name))
}

// param adds the named parameter to g as a constant of the given shape,
// over a private copy of its values.
func (m *graphModel) param(g *G.ExprGraph, name string, shape ...int) *G.Node {
	return m.constant(g, name, copyBacking(m.params[name]), shape...)
}

// soleInput checks the inputs of a model whose only input is "input", a
// tensor of the model's dtype, and returns it: present and alone, of the
// model's dtype, of a shape shapeOK accepts (want says which, in the
// error), valid and finite. Its errors blame the request (IsInvalidInput),
// so that a server answers them 400.
func (m *graphModel) soleInput(inputs map[string]numerics.Tensor, shapeOK func([]int64) bool, want string) (numerics.Tensor, error) {
	fail := invalidInput
	x, ok := inputs["input"]
	if !ok {
		return x, fail("reference: %s: missing input %q", m.id, "input")
	}
	for name := range inputs {
		if name != "input" {
			return x, fail("reference: %s: unexpected input %q (the only input is \"input\")", m.id, name)
		}
	}
	if x.DType != m.dtype {
		return x, fail("reference: %s %s: input \"input\" has datatype %s, want %s", m.id, m.version, x.DType, m.dtype)
	}
	if !shapeOK(x.Shape) {
		return x, fail("reference: %s: input \"input\" has shape %v, want %s", m.id, x.Shape, want)
	}
	if err := x.Validate(); err != nil {
		return x, fail("reference: %s: input \"input\": %w", m.id, err)
	}
	if i, bad := firstNonFinite(x); bad {
		return x, fail("reference: %s: input \"input\" element %v is %v, want a finite value", m.id, numerics.IndexOf(x.Shape, i), x.At(i))
	}
	return x, nil
}

// convertWeights checks weights against the specs of model id and returns
// their values in dtype ([]float32 or []float64), keyed by name: every
// tensor of specs must be there with its shape, valid, FP32 or FP64 and
// finite, and no other tensor may be. FP32 values are widened exactly for
// FP64, FP64 values are rounded to nearest for FP32.
func convertWeights(id string, specs []weightgen.Spec, weights map[string]numerics.Tensor, dtype numerics.DType) (map[string]any, error) {
	out := make(map[string]any, len(specs))
	for _, s := range specs {
		t, ok := weights[s.Name]
		if !ok {
			return nil, fmt.Errorf("reference: %s: weights lack tensor %q", id, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("reference: %s: tensor %q has shape %v, want %v", id, s.Name, t.Shape, s.Shape)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("reference: %s: tensor %q: %w", id, s.Name, err)
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("reference: %s: tensor %q is %s, want FP32 or FP64", id, s.Name, t.DType)
		}
		if i, ok := firstNonFinite(t); ok {
			return nil, fmt.Errorf("reference: %s: tensor %q: element %v is %v, want a finite value", id, s.Name, numerics.IndexOf(t.Shape, i), t.At(i))
		}
		out[s.Name] = convert(t, dtype)
	}
	for name := range weights {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("reference: %s: unexpected tensor %q in the weights", id, name)
		}
	}
	return out, nil
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

// section returns a copy of elements from…to−1 of a []float32 or []float64.
func section(b any, from, to int) any {
	switch b := b.(type) {
	case []float32:
		return slices.Clone(b[from:to])
	case []float64:
		return slices.Clone(b[from:to])
	}
	panic(fmt.Sprintf("reference: unexpected backing %T", b))
}

// transposed returns, for a row-major matrix b [*,cols] (a []float32 or
// []float64), the transpose [cols,rows] of its rows r0…r0+rows−1, so that
// x·Wᵀ is a plain product with it. Transposing moves values without
// arithmetic, so it is exact.
func transposed(b any, r0, rows, cols int) any {
	switch w := b.(type) {
	case []float32:
		return transpose(w[r0*cols:(r0+rows)*cols], rows, cols)
	case []float64:
		return transpose(w[r0*cols:(r0+rows)*cols], rows, cols)
	}
	panic(fmt.Sprintf("reference: unexpected backing %T", b))
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

// softmaxRows is the numerically stable softmax of each row of x [n,k],
// composed from Max, Sub, Exp, Sum and Div along the row because
// gorgonia's SoftMax op seeds each row's maximum with the tensor's first
// element, which overflows for rows far from it.
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
