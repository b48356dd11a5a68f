package conformance

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// sampler draws inputs from a reference model's input domain
// (spec/v1/models.json). Each check and model draws from its own stream of
// the run's seed, so what one check draws does not depend on which checks
// ran before it.
type sampler struct{ rng *rand.Rand }

// newSampler returns the stream of the run's seed named by parts.
func newSampler(seed uint64, parts ...string) *sampler {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return &sampler{rng: rand.New(rand.NewPCG(seed, h.Sum64()))}
}

// length draws a sequence length of the contract's sequence axis.
func (s *sampler) length(c spec.Contract) int64 {
	if c.Sequence == nil {
		return 0
	}
	return c.Sequence.Min + s.rng.Int64N(c.Sequence.Max-c.Sequence.Min+1)
}

// draw returns a batch of n samples of sequence length t (ignored for a
// model without a sequence axis), in the contract's input order. With
// lengths (one per sample, each in [1, t]) the samples are padded: each
// mask input holds lengths[i] ones then zeros, and the positions past a
// sample's length of every input with a pad value hold it. Without
// lengths, optional mask inputs are left out.
func (s *sampler) draw(c spec.Contract, n int, t int64, lengths []int64) ([]namedTensor, error) {
	var out []namedTensor
	for _, in := range c.Inputs {
		d := in.Domain
		if d == nil {
			return nil, fmt.Errorf("%s input %q has no input domain", c.Model, in.Name)
		}
		if d.Mask && lengths == nil {
			if in.Optional {
				continue
			}
			lengths = slices.Repeat([]int64{t}, n)
		}
		shape, err := concreteShape(c, in, n, t)
		if err != nil {
			return nil, err
		}
		size := 1
		for _, x := range shape {
			size *= int(x)
		}
		x := numerics.Tensor{DType: in.Datatype, Shape: shape}
		// row is the sample of element i and pos its sequence position.
		pos := func(i int) (row int, p int64) {
			per := size / n
			row = i / per
			if c.Sequence == nil || c.Sequence.Axis != 1 {
				return row, -1
			}
			inner := per / int(t)
			return row, int64((i % per) / inner)
		}
		padded := func(i int) bool {
			if lengths == nil {
				return false
			}
			r, p := pos(i)
			return p >= 0 && p >= lengths[r]
		}
		switch {
		case d.Mask:
			x.I64 = make([]int64, size)
			for i := range x.I64 {
				if !padded(i) {
					x.I64[i] = 1
				}
			}
		case d.Integers != nil:
			x.I64 = make([]int64, size)
			lo, hi := d.Integers[0], d.Integers[1]
			for i := range x.I64 {
				if padded(i) && d.Pad != nil {
					x.I64[i] = *d.Pad
					continue
				}
				x.I64[i] = lo + s.rng.Int64N(hi-lo+1)
			}
		case d.Uniform != nil:
			lo, hi := d.Uniform[0], d.Uniform[1]
			switch in.Datatype {
			case numerics.FP32:
				x.F32 = make([]float32, size)
				for i := range x.F32 {
					v := float32(lo + (hi-lo)*s.rng.Float64())
					if float64(v) >= hi { // rounding may reach the open end
						v = float32(lo)
					}
					x.F32[i] = v
				}
			case numerics.FP64:
				x.F64 = make([]float64, size)
				for i := range x.F64 {
					x.F64[i] = lo + (hi-lo)*s.rng.Float64()
				}
			default:
				return nil, fmt.Errorf("%s input %q: a uniform domain needs a floating datatype, not %s", c.Model, in.Name, in.Datatype)
			}
		default:
			return nil, fmt.Errorf("%s input %q: its domain names no values", c.Model, in.Name)
		}
		out = append(out, namedTensor{name: in.Name, t: x})
	}
	return out, nil
}

// concreteShape fills a contract tensor's variable dimensions: the batch
// axis with n, the sequence axis with t.
func concreteShape(c spec.Contract, ct spec.Tensor, n int, t int64) ([]int64, error) {
	shape := slices.Clone(ct.Shape)
	for i, d := range shape {
		switch {
		case d != -1:
		case i == 0:
			shape[i] = int64(n)
		case c.Sequence != nil && i == c.Sequence.Axis:
			shape[i] = t
		default:
			return nil, fmt.Errorf("%s tensor %q: dimension %d is variable but neither the batch nor the sequence axis", c.Model, ct.Name, i)
		}
	}
	return shape, nil
}

// tensors turns a request's inputs into a map.
func tensors(ins []namedTensor) map[string]numerics.Tensor {
	m := make(map[string]numerics.Tensor, len(ins))
	for _, in := range ins {
		m[in.name] = in.t
	}
	return m
}

// ordered returns a map of inputs in the contract's order (unknown names
// after them, sorted).
func ordered(c spec.Contract, m map[string]numerics.Tensor) []namedTensor {
	var out []namedTensor
	for _, in := range c.Inputs {
		if t, ok := m[in.Name]; ok {
			out = append(out, namedTensor{name: in.Name, t: t})
		}
	}
	var rest []string
	for n := range m {
		if _, ok := c.Input(n); !ok {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	for _, n := range rest {
		out = append(out, namedTensor{name: n, t: m[n]})
	}
	return out
}

// sampleRows returns samples [from, to) of a batch of inputs.
func sampleRows(ins []namedTensor, from, to int) []namedTensor {
	out := make([]namedTensor, len(ins))
	for i, in := range ins {
		out[i] = namedTensor{name: in.name, t: rowsOf(in.t, from, to)}
	}
	return out
}

// rowsOf returns rows [from, to) of the batch axis of x.
func rowsOf(x numerics.Tensor, from, to int) numerics.Tensor {
	per := 1
	for _, d := range x.Shape[1:] {
		per *= int(d)
	}
	shape := slices.Clone(x.Shape)
	shape[0] = int64(to - from)
	y := numerics.Tensor{DType: x.DType, Shape: shape}
	switch x.DType {
	case numerics.FP32:
		y.F32 = slices.Clone(x.F32[from*per : to*per])
	case numerics.FP64:
		y.F64 = slices.Clone(x.F64[from*per : to*per])
	case numerics.INT64:
		y.I64 = slices.Clone(x.I64[from*per : to*per])
	}
	return y
}

// truncate returns the first t positions of the sequence axis (axis 1) of
// a tensor of one sample.
func truncate(x numerics.Tensor, t int64) numerics.Tensor {
	if len(x.Shape) < 2 || x.Shape[0] != 1 {
		return x
	}
	inner := 1
	for _, d := range x.Shape[2:] {
		inner *= int(d)
	}
	shape := slices.Clone(x.Shape)
	shape[1] = t
	n := int(t) * inner
	y := numerics.Tensor{DType: x.DType, Shape: shape}
	switch x.DType {
	case numerics.FP32:
		y.F32 = slices.Clone(x.F32[:n])
	case numerics.FP64:
		y.F64 = slices.Clone(x.F64[:n])
	case numerics.INT64:
		y.I64 = slices.Clone(x.I64[:n])
	}
	return y
}
