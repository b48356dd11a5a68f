package reference

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
	"github.com/aiconform/aiconform/spec"
)

// The versions every reference model has: FP32 tensors (the default) and
// FP64 tensors holding the same weights widened exactly.
const (
	VersionFP32 = "fp32"
	VersionFP64 = "fp64"
)

// Versions lists the versions every reference model has, the default
// first: the reference versions of the spec.
func Versions() []string { return spec.ReferenceVersions() }

// VersionOf returns the model version whose floating tensors are dtype.
func VersionOf(dtype numerics.DType) (string, error) {
	for _, v := range Versions() {
		if mv, ok := spec.LookupVersion(v); ok && mv.Datatype == dtype {
			return v, nil
		}
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
// Concurrency: Forward runs each chunk on a program of its own from the
// model's pool (see program). Batches larger than cnnChunk run in chunks,
// so programs exist for batch sizes 1…cnnChunk only. The pool is bounded
// (MaxIdlePrograms and IdleProgramBytes idle, the least recently used
// dropped first; MaxLivePrograms in all, see newGraphPool). Building a
// program takes a package-wide lock (graphMu); running one does not.
type seedCNN struct {
	// graphModel's params holds the weights with their state_dict names.
	graphModel
}

// NewSeedCNN returns seed-cnn at the version computing in dtype (FP32 or
// FP64) with the given weights (names and shapes of SeedCNNWeightSpecs, FP32
// or FP64 values, all finite; FP32 values are widened exactly for FP64, FP64
// values are rounded to nearest for FP32). Extra tensors are an error.
func NewSeedCNN(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	gm, err := newGraphModel(SeedCNNID, dtype, SeedCNNWeightSpecs(), weights)
	if err != nil {
		return nil, err
	}
	m := &seedCNN{graphModel: gm}
	if err := m.start(newGraphPool(m.build), progKey{batch: 1}); err != nil {
		return nil, err
	}
	return m, nil
}

// build compiles the graph of seed-cnn for a batch of key.batch images:
//
//	conv(1→32, 3×3, pad 1) + bias → ReLU → maxpool 2×2/2
//	conv(32→64, 3×3, pad 1) + bias → ReLU → maxpool 2×2/2
//	reshape [n, 3136] (NCHW order) → x·fc.weightᵀ + fc.bias = logits
//	probabilities = exp(logits − rowmax) / Σ exp(logits − rowmax)
//
// gorgonia's Conv2d takes images in NCHW and filters in [out,in,kh,kw], the
// PyTorch layouts. The softmax is softmaxRows.
func (m *seedCNN) build(key progKey) (*program, error) {
	return m.compile(key, func(g *G.ExprGraph) ([]programInput, []programOutput, error) {
		n := key.batch
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
			return nil, nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
		}
		if h, err = block(h, "conv2", cnnC1, cnnC2); err != nil {
			return nil, nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
		}
		logits, err := m.linear(g, h, n)
		if err != nil {
			return nil, nil, fmt.Errorf("reference: %s: %w", SeedCNNID, err)
		}
		probs, err := softmaxRows(logits)
		if err != nil {
			return nil, nil, fmt.Errorf("reference: %s: softmax: %w", SeedCNNID, err)
		}
		return []programInput{{node: x, what: "the input"}},
			[]programOutput{
				{name: "logits", size: n * cnnClasses, node: logits},
				{name: "probabilities", size: n * cnnClasses, node: probs},
			}, nil
	})
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

// Forward computes logits and probabilities for inputs["input"]. Its input
// errors blame the request (IsInvalidInput), so that a server answers them 400.
func (m *seedCNN) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	x, err := m.soleInput(inputs, func(s []int64) bool {
		return len(s) == 4 && s[0] >= 1 && s[1] == 1 && s[2] == cnnSide && s[3] == cnnSide
	}, "[N,1,28,28] with N ≥ 1")
	if err != nil {
		return nil, err
	}
	n := int(x.Shape[0])
	const img = cnnSide * cnnSide
	outs, err := m.forward(n, cnnChunk, func(start, size int) (progKey, []any) {
		if m.dtype == numerics.FP32 {
			return progKey{batch: size}, []any{slices.Clone(x.F32[start*img : (start+size)*img])}
		}
		return progKey{batch: size}, []any{slices.Clone(x.F64[start*img : (start+size)*img])}
	})
	if err != nil {
		return nil, err
	}
	shape := []int64{int64(n), cnnClasses}
	return map[string]numerics.Tensor{
		"logits":        m.tensor(shape, outs[0]),
		"probabilities": m.tensor(shape, outs[1]),
	}, nil
}
