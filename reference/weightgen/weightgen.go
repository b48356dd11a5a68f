// Package weightgen generates the deterministic weights of the aiconform
// reference models, so that anyone can regenerate the published weights
// bit for bit from a few lines of code in any language.
//
// # Algorithm
//
// Every tensor has its own pseudo-random stream, independent of the other
// tensors and of the order in which they are generated:
//
//  1. The stream's 64-bit seed is FNV-1a-64 (offset basis
//     0xcbf29ce484222325, prime 0x100000001b3) of the UTF-8 bytes of
//     Seed + "/" + tensor name, e.g. "aiconform/v1/conv1.weight".
//  2. The stream is SplitMix64 (Steele, Lea and Flood, 2014) started from
//     that seed: each draw adds 0x9e3779b97f4a7c15 to the state z, then
//     returns z ^= z>>30, z *= 0xbf58476d1ce4e5b9, z ^= z>>27,
//     z *= 0x94d049bb133111eb, z ^ z>>31 (on a copy of the state, all
//     arithmetic modulo 2^64).
//  3. A draw x becomes a float64 u in [0,1) as (x>>11)·2^-53 (exact).
//  4. The elements of a tensor are drawn in row-major order, one draw each.
//     Rule Uniform with bound b and centre c gives the float64
//     c + ((2b·u) − b), in [c−b, c+b): first t = (2·b)·u, then v = t − b,
//     then c + v, each operation rounded to float64 (no fused
//     multiply-add). The centre is 0 for every tensor except LayerNorm
//     weights (centre 1); adding a centre of 0 leaves v unchanged.
//     b is computed in float64 as 1/math.Sqrt(fan_in) for UniformFanIn
//     (fan_in = in·kh·kw for a convolution, in_features for a linear layer),
//     which is PyTorch's default initialisation of nn.Conv2d and nn.Linear
//     (kaiming_uniform with a=√5 for weights, the same bound for biases).
//     Rule Constant gives its value and draws nothing.
//  5. The float64 is rounded to the nearest float32 (ties to even); the
//     weights are published and used as those float32 values, and the FP64
//     versions of the models widen them exactly.
package weightgen

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/aiconform/aiconform/numerics"
)

// Seed is the global seed string of spec v1's weights.
const Seed = "aiconform/v1"

// Name describes the generator in the metadata of the files it writes.
const Name = "aiconform/weightgen: splitmix64 per tensor, seeded by fnv-1a-64(seed + \"/\" + name); uniform(b) or uniform(c, b) per tensor in float64 (spec/v1/reference-models.md), rounded to float32"

// SplitMix64 is the SplitMix64 pseudo-random generator. The zero value is a
// valid generator started from state 0.
type SplitMix64 struct {
	state uint64
}

// NewSplitMix64 returns a generator started from seed.
func NewSplitMix64(seed uint64) *SplitMix64 { return &SplitMix64{state: seed} }

// Uint64 returns the next 64-bit draw.
func (s *SplitMix64) Uint64() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns the next draw as a float64 in [0,1): (x>>11)·2^-53.
func (s *SplitMix64) Float64() float64 {
	return float64(s.Uint64()>>11) * 0x1p-53
}

// StreamSeed returns the seed of the stream named name under the global
// seed: FNV-1a-64 of seed + "/" + name.
func StreamSeed(seed, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(seed + "/" + name))
	return h.Sum64()
}

// Stream returns the generator of the stream named name under seed.
func Stream(seed, name string) *SplitMix64 { return NewSplitMix64(StreamSeed(seed, name)) }

// Kind names an initialisation rule.
type Kind string

// The initialisation rules.
const (
	// Uniform draws every element uniformly from
	// [Center−Bound, Center+Bound).
	Uniform Kind = "uniform"
	// Constant sets every element to Value without drawing.
	Constant Kind = "constant"
)

// Init is the initialisation rule of one tensor.
type Init struct {
	Kind   Kind
	Bound  float64 // for Uniform
	Center float64 // for Uniform: the middle of the interval (0 unless set)
	Value  float64 // for Constant
}

// UniformFanIn is the Uniform rule with bound 1/√fanIn (PyTorch's default
// for convolution and linear weights and biases).
func UniformFanIn(fanIn int) Init {
	return Init{Kind: Uniform, Bound: 1 / math.Sqrt(float64(fanIn))}
}

// UniformBound is the Uniform rule with centre 0 and the given bound: the
// spec's uniform(b) (embeddings use uniform(1), LayerNorm biases
// uniform(0.1)).
func UniformBound(bound float64) Init { return Init{Kind: Uniform, Bound: bound} }

// UniformAround is the Uniform rule with the given centre and bound: the
// spec's uniform(c, b) (LayerNorm weights use uniform(1, 0.1), drawn around
// PyTorch's constant 1).
func UniformAround(center, bound float64) Init {
	return Init{Kind: Uniform, Bound: bound, Center: center}
}

// ConstantValue is the Constant rule (LayerNorm weights are 1, biases 0).
func ConstantValue(v float64) Init { return Init{Kind: Constant, Value: v} }

// Spec names one tensor of a model, its shape and its initialisation rule.
type Spec struct {
	Name  string
	Shape []int64
	Init  Init
}

// Generate returns the FP32 tensors of specs, each from its own stream under
// seed, keyed by name.
func Generate(seed string, specs []Spec) (map[string]numerics.Tensor, error) {
	out := make(map[string]numerics.Tensor, len(specs))
	for _, s := range specs {
		if s.Name == "" {
			return nil, errors.New("weightgen: a spec has an empty name")
		}
		if _, dup := out[s.Name]; dup {
			return nil, fmt.Errorf("weightgen: tensor %q is specified twice", s.Name)
		}
		n, err := numerics.ShapeElements(s.Shape)
		if err != nil {
			return nil, fmt.Errorf("weightgen: tensor %q: %w", s.Name, err)
		}
		data := make([]float32, n)
		switch s.Init.Kind {
		case Uniform:
			b, c := s.Init.Bound, s.Init.Center
			if !(b > 0) || math.IsInf(b, 0) {
				return nil, fmt.Errorf("weightgen: tensor %q: uniform bound %v, want a finite value > 0", s.Name, b)
			}
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return nil, fmt.Errorf("weightgen: tensor %q: uniform centre %v, want a finite value", s.Name, c)
			}
			r := Stream(seed, s.Name)
			for i := range data {
				// The conversions forbid fusing into an FMA (Go spec).
				scaled := float64(2 * b * r.Float64())
				v := float64(scaled - b)
				data[i] = float32(c + v)
			}
		case Constant:
			for i := range data {
				data[i] = float32(s.Init.Value)
			}
		default:
			return nil, fmt.Errorf("weightgen: tensor %q: unknown init rule %q (want %q or %q)", s.Name, s.Init.Kind, Uniform, Constant)
		}
		out[s.Name] = numerics.NewF32(s.Shape, data)
	}
	return out, nil
}

// Metadata returns the safetensors metadata of a weights file written by
// this generator for model under seed.
func Metadata(model, seed string) map[string]string {
	return map[string]string{
		"format":    "pt",
		"generator": Name,
		"model":     model,
		"seed":      seed,
	}
}
