package faults

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// This file holds the faults that wrap each model's Forward
// (serve.WithModelWrapper): numeric-drift, golden-only, wrong-class,
// batch-variant, slow-tail and result-cache. The wrappers sit above the
// dynamic batcher, so a Forward call is one request with its own batch.

// Output names the numeric faults know: a model with both, of the same
// datatype and shape, has probabilities that are the softmax of its logits
// along the last axis (seed-cnn).
const (
	logitsOutput        = "logits"
	probabilitiesOutput = "probabilities"
)

// forwardFunc is a model's forward pass.
type forwardFunc func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error)

// faultModel is a model whose forward pass goes through a fault. It keeps
// the model's id, version and tensor specs, and passes the request's
// context on to a serve.ContextModel below it (the dynamic batcher).
type faultModel struct {
	reference.Model
	forward forwardFunc
}

// Forward runs the faulty forward pass.
func (f *faultModel) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return f.forward(context.Background(), inputs)
}

// ForwardContext runs the faulty forward pass for a caller that may give
// up.
func (f *faultModel) ForwardContext(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return f.forward(ctx, inputs)
}

// wrapModel returns a model wrapper (see serve.WithModelWrapper) whose
// forward pass is build(m, m's own forward pass).
func wrapModel(build func(m reference.Model, next forwardFunc) forwardFunc) func(reference.Model) reference.Model {
	return func(m reference.Model) reference.Model {
		next := func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			if cm, ok := m.(serve.ContextModel); ok {
				return cm.ForwardContext(ctx, inputs)
			}
			return m.Forward(inputs)
		}
		return &faultModel{Model: m, forward: build(m, next)}
	}
}

// editOutputs returns a forward pass that runs next and hands its outputs
// to edit in a map of their own, which edit changes in place: it replaces
// the tensors it changes (the model's tensors are never written to).
func editOutputs(next forwardFunc, edit func(inputs, outputs map[string]numerics.Tensor)) forwardFunc {
	return func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
		out, err := next(ctx, inputs)
		if err != nil {
			return nil, err
		}
		out = maps.Clone(out)
		edit(inputs, out)
		return out, nil
	}
}

// derivedProbabilities reports whether m's probabilities output is the
// softmax of its logits output.
func derivedProbabilities(m reference.Model) bool {
	var l, p *spec.Tensor
	for _, s := range m.Outputs() {
		switch s.Name {
		case logitsOutput:
			l = &s
		case probabilitiesOutput:
			p = &s
		}
	}
	return l != nil && p != nil && l.Datatype == p.Datatype && slices.Equal(l.Shape, p.Shape)
}

// primaryOutputs returns the floating outputs of m a numeric fault moves:
// every floating output, except probabilities that are derived from logits
// (derivedProbabilities), which are recomputed instead or left as they are.
func primaryOutputs(m reference.Model) []string {
	derived := derivedProbabilities(m)
	var names []string
	for _, s := range m.Outputs() {
		if !s.Datatype.IsFloat() || len(s.Shape) == 0 || (derived && s.Name == probabilitiesOutput) {
			continue
		}
		names = append(names, s.Name)
	}
	return names
}

// withFloats returns a tensor of t's datatype and shape holding v, rounded
// to FP32 when t is FP32.
func withFloats(t numerics.Tensor, v []float64) numerics.Tensor {
	out := numerics.Tensor{DType: t.DType, Shape: slices.Clone(t.Shape)}
	switch t.DType {
	case numerics.FP32:
		out.F32 = make([]float32, len(v))
		for i, x := range v {
			out.F32[i] = float32(x)
		}
	default:
		out.F64 = slices.Clone(v)
	}
	return out
}

// rows calls f with each row of v, a row-major tensor whose last dimension
// is n.
func rows(v []float64, n int, f func(i int, row []float64)) {
	if n <= 0 {
		return
	}
	for i := 0; (i+1)*n <= len(v); i++ {
		f(i, v[i*n:(i+1)*n])
	}
}

// lastDim is the size of t's last dimension.
func lastDim(t numerics.Tensor) int { return int(t.Shape[len(t.Shape)-1]) }

// argmax returns the lowest index of a largest value of row.
func argmax(row []float64) int {
	k := 0
	for j, x := range row {
		if x > row[k] {
			k = j
		}
	}
	return k
}

// topTwo returns the index of the largest value of row and of the largest
// of the others (lowest indices on ties).
func topTwo(row []float64) (first, second int) {
	first = argmax(row)
	second = -1
	for j, x := range row {
		if j != first && (second < 0 || x > row[second]) {
			second = j
		}
	}
	return first, second
}

// setSoftmax replaces the probabilities of out with the softmax of its
// logits along the last axis, computed in float64.
func setSoftmax(out map[string]numerics.Tensor) {
	l, ok := out[logitsOutput]
	p, ok2 := out[probabilitiesOutput]
	if !ok || !ok2 || len(l.Shape) == 0 {
		return
	}
	v := l.Float64s()
	rows(v, lastDim(l), func(_ int, row []float64) {
		m := row[argmax(row)]
		sum := 0.0
		for j, x := range row {
			row[j] = math.Exp(x - m)
			sum += row[j]
		}
		for j := range row {
			row[j] /= sum
		}
	})
	out[probabilitiesOutput] = withFloats(p, v)
}

// classOf returns the tolerance class of a floating datatype: fp32 for
// FP32, fp64 for FP64.
func classOf(dt numerics.DType) numerics.Tolerance {
	name := "fp32"
	if dt == numerics.FP64 {
		name = "fp64"
	}
	tol, ok := spec.Tolerance(name)
	if !ok {
		panic("faults: spec v1 has no tolerance class " + name)
	}
	return tol
}

// shiftWithinClass moves every value of the primary outputs of m by
// sign·classShare of its tolerance class.
func shiftWithinClass(m reference.Model, out map[string]numerics.Tensor, sign float64) {
	for _, name := range primaryOutputs(m) {
		t, ok := out[name]
		if !ok {
			continue
		}
		tol := classOf(t.DType)
		v := t.Float64s()
		for i, x := range v {
			v[i] = x + sign*classShare*(tol.ATol+tol.RTol*math.Abs(x))
		}
		out[name] = withFloats(t, v)
	}
}

// batchSize is the batch dimension of a request's inputs (0 when there
// are none).
func batchSize(inputs map[string]numerics.Tensor) int64 {
	for _, t := range inputs {
		if len(t.Shape) > 0 {
			return t.Shape[0]
		}
	}
	return 0
}

// numericDrift: every row of every primary output drifts (drift).
var numericDrift = wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
	return editOutputs(next, drift(m))
})

// drift returns an edit of m's outputs by which every row of every
// primary output drifts by driftRelative of each value's magnitude, the
// top value up and the others down (so the argmax stays, and values stay
// finite); derived probabilities become the softmax of the drifted logits,
// so they stay a distribution with the same top class.
func drift(m reference.Model) func(in, out map[string]numerics.Tensor) {
	names, derived := primaryOutputs(m), derivedProbabilities(m)
	return func(_, out map[string]numerics.Tensor) {
		for _, name := range names {
			t, ok := out[name]
			if !ok {
				continue
			}
			v := t.Float64s()
			rows(v, lastDim(t), func(_ int, row []float64) {
				k := argmax(row)
				for j, x := range row {
					if j == k {
						row[j] = x + driftRelative*math.Abs(x)
					} else {
						row[j] = x - driftRelative*math.Abs(x)
					}
				}
			})
			out[name] = withFloats(t, v)
		}
		if derived {
			setSoftmax(out)
		}
	}
}

// goldenOnly: requests whose inputs are those of a case of the published
// golden set (by inputsDigest) are computed correctly, every other one
// drifts as under numeric-drift.
func goldenOnly() ([]serve.Option, error) {
	published, err := goldenDigests()
	if err != nil {
		return nil, err
	}
	return []serve.Option{serve.WithModelWrapper(wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
		drifted := editOutputs(next, drift(m))
		return func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			if published[inputsDigest(inputs)] {
				return next(ctx, inputs)
			}
			return drifted(ctx, inputs)
		}
	}))}, nil
}

// goldenDigests returns the inputsDigest of the inputs of every case of
// the published golden set.
var goldenDigests = sync.OnceValues(func() (map[[sha256.Size]byte]bool, error) {
	src := aiconform.Goldens()
	man, _, err := golden.ReadManifest(src, ".")
	if err != nil {
		return nil, fmt.Errorf("the published goldens: %w", err)
	}
	out := map[[sha256.Size]byte]bool{}
	for _, s := range man.Sets {
		for _, c := range s.Cases {
			l, err := golden.LoadCase(src, ".", c)
			if err != nil {
				return nil, fmt.Errorf("the published goldens: %s/%s %s: %w", s.Model, s.Version, c.Name, err)
			}
			out[inputsDigest(l.Inputs)] = true
		}
	}
	return out, nil
})

// wrongClass: in the rows that wrongClassRows selects, the largest
// and the second largest value of every floating output swap places
// (probabilities too, which keeps them the softmax of the logits).
var wrongClass = wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
	return editOutputs(next, func(in, out map[string]numerics.Tensor) {
		for _, s := range m.Outputs() {
			t, ok := out[s.Name]
			if !ok || !t.DType.IsFloat() || len(t.Shape) < 2 || lastDim(t) < 2 {
				continue
			}
			selected := wrongClassRows(m, in, t)
			v := t.Float64s()
			rows(v, lastDim(t), func(i int, row []float64) {
				if i < len(selected) && selected[i] {
					a, b := topTwo(row)
					row[a], row[b] = row[b], row[a]
				}
			})
			out[s.Name] = withFloats(t, v)
		}
	})
})

// wrongClassRows selects one row in wrongClassEvery of output t by a hash
// of what the row depends on: the row's sample of every required input,
// and for an output with one row per step ([N,T,C]) only the steps up to
// and including the row's. The choice is therefore the same for a sample
// sent alone or in a batch, and for a sequence sent padded (the padding
// follows the steps hashed, and attention_mask is optional) or not.
func wrongClassRows(m reference.Model, in map[string]numerics.Tensor, t numerics.Tensor) []bool {
	n := int(t.Shape[0])
	total := t.Len() / lastDim(t)
	if n <= 0 || total%n != 0 {
		return nil
	}
	perSample := total / n
	var names []string
	for _, s := range m.Inputs() {
		if !s.Optional {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	selected := make([]bool, total)
	h := fnv.New64a()
	for i := range selected {
		sample, step := i/perSample, i%perSample
		h.Reset()
		for _, name := range names {
			x, ok := in[name]
			if !ok || len(x.Shape) == 0 || x.Shape[0] != int64(n) {
				continue
			}
			size := x.Len() / n
			lo, hi := sample*size, (sample+1)*size
			if perSample > 1 && len(x.Shape) >= 2 && x.Shape[1] == int64(perSample) {
				hi = lo + (step+1)*(size/perSample)
			}
			h.Write([]byte(name))
			hashElements(h, x, lo, hi)
		}
		selected[i] = mix64(h.Sum64())%wrongClassEvery == 0
	}
	return selected
}

// hashElements writes the bits of elements lo…hi-1 of t to h.
func hashElements(h hash.Hash, t numerics.Tensor, lo, hi int) {
	var b [8]byte
	for i := lo; i < hi; i++ {
		switch t.DType {
		case numerics.FP32:
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(t.F32[i]))
			h.Write(b[:4])
		case numerics.FP64:
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(t.F64[i]))
			h.Write(b[:])
		case numerics.INT64:
			binary.LittleEndian.PutUint64(b[:], uint64(t.I64[i]))
			h.Write(b[:])
		}
	}
}

// mix64 is the finalizer of SplitMix64: it spreads every bit of z over the
// low bits.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// batchVariant: the primary outputs of a request of one sample move
// down by classShare of the tolerance class, those of a request of several
// samples up by as much. Probabilities derived from logits are left as
// they are (a near-constant shift of the logits leaves their softmax
// within the class).
var batchVariant = wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
	return editOutputs(next, func(in, out map[string]numerics.Tensor) {
		sign := -1.0
		if batchSize(in) > 1 {
			sign = 1
		}
		shiftWithinClass(m, out, sign)
	})
})

// slowTail: every slowTailEvery-th single-sample forward pass of a
// model version waits slowTailDelaySeconds before it runs (or until the
// request gives up).
var slowTail = wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
	var singles atomic.Int64
	return func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
		if batchSize(inputs) == 1 && singles.Add(1)%slowTailEvery == 0 {
			t := time.NewTimer(slowTailDelaySeconds * time.Second)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		return next(ctx, inputs)
	}
})

// cacheResults: each model version answers inputs it has answered
// before from a cache keyed by the SHA-256 of the inputs (names,
// datatypes, shapes and values), least recently used first out once the
// outputs held pass cacheMaxBytes.
var cacheResults = wrapModel(func(m reference.Model, next forwardFunc) forwardFunc {
	rc := &resultCache{max: cacheMaxBytes, entries: map[[sha256.Size]byte]*list.Element{}, order: list.New()}
	return func(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
		key := inputsDigest(inputs)
		if out, ok := rc.get(key); ok {
			return out, nil
		}
		out, err := next(ctx, inputs)
		if err != nil {
			return nil, err
		}
		rc.put(key, out)
		return out, nil
	}
})

// resultCache is a least-recently-used cache of outputs bounded in bytes.
type resultCache struct {
	mu      sync.Mutex
	max     int64
	size    int64
	entries map[[sha256.Size]byte]*list.Element
	order   *list.List // front: most recently used; values are *cacheEntry
}

type cacheEntry struct {
	key  [sha256.Size]byte
	out  map[string]numerics.Tensor
	size int64
}

// get returns a copy of the outputs cached for key.
func (rc *resultCache) get(key [sha256.Size]byte) (map[string]numerics.Tensor, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.entries[key]
	if !ok {
		return nil, false
	}
	rc.order.MoveToFront(e)
	return cloneOutputs(e.Value.(*cacheEntry).out), true
}

// put caches a copy of out under key, evicting the least recently used
// entries beyond the size bound; outputs larger than the bound are not
// cached.
func (rc *resultCache) put(key [sha256.Size]byte, out map[string]numerics.Tensor) {
	var size int64
	for _, t := range out {
		size += int64(t.Len() * t.DType.Size())
	}
	if size > rc.max {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, ok := rc.entries[key]; ok {
		return
	}
	rc.entries[key] = rc.order.PushFront(&cacheEntry{key: key, out: cloneOutputs(out), size: size})
	rc.size += size
	for rc.size > rc.max {
		last := rc.order.Back()
		ce := last.Value.(*cacheEntry)
		rc.order.Remove(last)
		delete(rc.entries, ce.key)
		rc.size -= ce.size
	}
}

// cloneOutputs deep-copies a map of tensors.
func cloneOutputs(out map[string]numerics.Tensor) map[string]numerics.Tensor {
	c := make(map[string]numerics.Tensor, len(out))
	for name, t := range out {
		c[name] = t.Clone()
	}
	return c
}

// inputsDigest is the SHA-256 of a request's inputs: each input, by name
// order, as its name, datatype, rank, shape and element bits.
func inputsDigest(inputs map[string]numerics.Tensor) [sha256.Size]byte {
	h := sha256.New()
	names := slices.Sorted(maps.Keys(inputs))
	var b [8]byte
	for _, name := range names {
		t := inputs[name]
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(t.DType))
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(b[:], uint64(len(t.Shape)))
		h.Write(b[:])
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		hashElements(h, t, 0, t.Len())
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
