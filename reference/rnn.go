package reference

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

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
// Concurrency: as for seed-cnn, Forward runs each chunk on a program of
// its own, for its batch size and sequence length, from the model's pool.
// Batches larger than rnnChunk run in chunks, so programs exist for batch
// sizes 1…rnnChunk and lengths 1…rnnMaxSteps only; the pool is bounded as
// seed-cnn's. Building a program takes graphMu; running one does not.
type seedRNN struct {
	// graphModel's params holds the weights with their state_dict names
	// and layouts; the graphs use them transposed or tiled.
	graphModel
}

// NewSeedRNN returns seed-rnn at the version computing in dtype (FP32 or
// FP64) with the given weights (names and shapes of SeedRNNWeightSpecs, FP32
// or FP64 values, all finite; FP32 values are widened exactly for FP64, FP64
// values are rounded to nearest for FP32). Extra tensors are an error.
func NewSeedRNN(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	gm, err := newGraphModel(SeedRNNID, dtype, SeedRNNWeightSpecs(), weights)
	if err != nil {
		return nil, err
	}
	m := &seedRNN{graphModel: gm}
	if err := m.start(newGraphPool(m.build), progKey{batch: 1, length: 1}); err != nil {
		return nil, err
	}
	return m, nil
}

// transposed adds the transpose [cols,rows] of the named weight
// [rows,cols] to g as a constant, so that x·Wᵀ is G.Mul(x, transposed).
func (m *seedRNN) transposed(g *G.ExprGraph, name string, rows, cols int) *G.Node {
	return m.constant(g, name+"ᵀ", transposed(m.params[name], 0, rows, cols), cols, rows)
}

// tiled adds the named bias [cols] to g repeated in n rows, [n,cols], so
// that adding it to an [n,cols] node needs no broadcast nodes (gorgonia
// builds each broadcast from reshape, size and repeat nodes, and the
// compile time of a graph grows with the square of its node count).
func (m *seedRNN) tiled(g *G.ExprGraph, name string, n int) *G.Node {
	var vals any
	cols := 0
	switch b := m.params[name].(type) {
	case []float32:
		vals, cols = tile(b, n), len(b)
	case []float64:
		vals, cols = tile(b, n), len(b)
	}
	return m.constant(g, name+".rows", vals, n, cols)
}

// tile returns n copies of b, one after the other.
func tile[T float32 | float64](b []T, n int) []T {
	out := make([]T, 0, n*len(b))
	for range n {
		out = append(out, b...)
	}
	return out
}

// build compiles the graph of seed-rnn for key.batch sequences of
// key.length steps, with the time loop unrolled. One input node per step
// holds xₜ [n,10] (Forward splits the [n,T,10] input by step, which keeps
// every node a matrix: gorgonia drops a slice's unit dimensions, so slicing
// one step out of a batch of 1 would give a vector). For layer l and step t:
//
//	hₜ = tanh((xₜ·W_ihᵀ + b_ih) + (hₜ₋₁·W_hhᵀ + b_hh))
//
// with x the input for layer 0 and layer 0's hₜ for layer 1; at t = 0,
// h₋₁ = 0, so the second term is b_hh alone (exactly what adding a zero
// product gives). logits = h_T·fc.weightᵀ + fc.bias for layer 1's last h.
// The weights enter transposed and the biases tiled to n rows (see tiled).
func (m *seedRNN) build(key progKey) (*program, error) {
	return m.compile(key, func(g *G.ExprGraph) ([]programInput, []programOutput, error) {
		n, steps := key.batch, key.length
		inputs := make([]programInput, steps)
		seq := make([]*G.Node, steps)
		for t := range seq {
			seq[t] = G.NewTensor(g, m.dt, 2, G.WithShape(n, rnnFeatures), G.WithName(fmt.Sprintf("input.t%d", t)))
			inputs[t] = programInput{node: seq[t], what: fmt.Sprintf("the input of step %d", t)}
		}
		for l := range rnnLayers {
			in := rnnFeatures
			if l > 0 {
				in = rnnHidden
			}
			var err error
			if seq, err = m.layer(g, l, in, n, seq); err != nil {
				return nil, nil, fmt.Errorf("reference: %s: layer %d: %w", SeedRNNID, l, err)
			}
		}
		logits, err := affine(seq[steps-1], m.transposed(g, "fc.weight", rnnClasses, rnnHidden), m.tiled(g, "fc.bias", n))
		if err != nil {
			return nil, nil, fmt.Errorf("reference: %s: fc: %w", SeedRNNID, err)
		}
		return inputs, []programOutput{{name: "logits", size: n * rnnClasses, node: logits}}, nil
	})
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

// Forward computes logits for inputs["input"]. Its input errors blame the
// request (IsInvalidInput), so that a server answers them 400.
func (m *seedRNN) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	x, err := m.soleInput(inputs, func(s []int64) bool {
		return len(s) == 3 && s[0] >= 1 && s[1] >= 1 && s[1] <= rnnMaxSteps && s[2] == rnnFeatures
	}, fmt.Sprintf("[N,T,10] with N ≥ 1 and 1 ≤ T ≤ %d", rnnMaxSteps))
	if err != nil {
		return nil, err
	}
	n, steps := int(x.Shape[0]), int(x.Shape[1])
	outs, err := m.forward(n, rnnChunk, func(start, size int) (progKey, []any) {
		return progKey{batch: size, length: steps}, m.split(x, start, size)
	})
	if err != nil {
		return nil, err
	}
	return map[string]numerics.Tensor{"logits": m.tensor([]int64{int64(n), rnnClasses}, outs[0])}, nil
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
