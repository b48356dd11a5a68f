package reference

import (
	"fmt"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// seqKind generates one sequence [T,10] of seed-rnn, drawing from r when it
// needs to.
type seqKind struct {
	name string
	fill func(r *weightgen.SplitMix64, seq []float32, steps int)
}

// constSeq is a sequence whose every value is v.
func constSeq(name string, v float32) seqKind {
	return seqKind{name, func(_ *weightgen.SplitMix64, seq []float32, _ int) {
		for i := range seq {
			seq[i] = v
		}
	}}
}

var (
	uniformSeq = seqKind{"uniform random values in [-1,1)", func(r *weightgen.SplitMix64, seq []float32, _ int) {
		for i := range seq {
			seq[i] = 2*unit24(r) - 1
		}
	}}
	zerosSeq    = constSeq("all-zero sequence", 0)
	plusOneSeq  = constSeq("saturated sequence of all +1", 1)
	minusOneSeq = constSeq("saturated sequence of all -1", -1)
	halfSeq     = constSeq("constant run of 0.5", 0.5)
	alterSeq    = seqKind{"alternating sign: step t is (-1)^t in every feature", func(_ *weightgen.SplitMix64, seq []float32, _ int) {
		for i := range seq {
			seq[i] = 1 - 2*float32((i/rnnFeatures)%2)
		}
	}}
	stepSeq = seqKind{"step change: -0.5 for t < T/2, +0.5 from t = T/2 (integer division)", func(_ *weightgen.SplitMix64, seq []float32, steps int) {
		for i := range seq {
			if i/rnnFeatures < steps/2 {
				seq[i] = -0.5
			} else {
				seq[i] = 0.5
			}
		}
	}}
	rampSeq = seqKind{"ramp: step t is -1 + 2t/(T-1) in every feature (0 when T = 1)", func(_ *weightgen.SplitMix64, seq []float32, steps int) {
		for i := range seq {
			if steps > 1 {
				seq[i] = float32(-1 + 2*float64(i/rnnFeatures)/float64(steps-1))
			} else {
				seq[i] = 0
			}
		}
	}}
	impulseSeq = seqKind{"impulse: step 0 is all +1, later steps 0", func(_ *weightgen.SplitMix64, seq []float32, _ int) {
		clear(seq)
		for i := range rnnFeatures {
			seq[i] = 1
		}
	}}
	prefixSeq = seqKind{"uniform random values in [-1,1) for t < 8, then 0", func(r *weightgen.SplitMix64, seq []float32, _ int) {
		clear(seq)
		for i := range min(len(seq), 8*rnnFeatures) {
			seq[i] = 2*unit24(r) - 1
		}
	}}
	oneHotSeq = seqKind{"one-hot: step t has feature t mod 10 at 1, the rest 0", func(_ *weightgen.SplitMix64, seq []float32, _ int) {
		clear(seq)
		for t := range len(seq) / rnnFeatures {
			seq[t*rnnFeatures+t%rnnFeatures] = 1
		}
	}}
	wideSeq = seqKind{"large values: uniform random in [-4,4)", func(r *weightgen.SplitMix64, seq []float32, _ int) {
		for i := range seq {
			seq[i] = 8*unit24(r) - 4
		}
	}}
)

// rnnGoldenCase is one golden case of seed-rnn: a batch of sequences of one
// length.
type rnnGoldenCase struct {
	steps int
	kinds []seqKind
}

// rnnGoldenCases lists seed-rnn's golden cases in order.
func rnnGoldenCases() []rnnGoldenCase {
	u := uniformSeq
	batch := func(k seqKind, n int) []seqKind {
		out := make([]seqKind, n)
		for i := range out {
			out[i] = k
		}
		return out
	}
	one := func(steps int, k seqKind) rnnGoldenCase { return rnnGoldenCase{steps, []seqKind{k}} }
	many := func(steps int, ks ...seqKind) rnnGoldenCase { return rnnGoldenCase{steps, ks} }
	edges := []seqKind{zerosSeq, plusOneSeq, minusOneSeq, halfSeq, alterSeq, stepSeq, rampSeq, impulseSeq}
	return []rnnGoldenCase{
		// Edge inputs, batch 1.
		one(1, zerosSeq),
		one(16, zerosSeq),
		one(16, plusOneSeq),
		one(16, minusOneSeq),
		one(64, plusOneSeq),
		one(64, minusOneSeq),
		one(64, halfSeq),
		one(64, alterSeq),
		one(32, stepSeq),
		one(64, stepSeq),
		one(64, rampSeq),
		one(64, impulseSeq),
		one(64, prefixSeq),
		one(40, oneHotSeq),
		one(16, wideSeq),
		// Domain inputs, batch 1, over the lengths.
		one(1, u),
		one(1, u),
		one(2, u),
		one(3, u),
		one(7, u),
		one(7, u),
		one(16, u),
		one(16, u),
		one(31, u),
		one(33, u),
		one(63, u),
		one(64, u),
		one(64, u),
		// Batches.
		many(1, batch(u, 8)...),
		many(7, batch(u, 8)...),
		many(16, batch(u, 8)...),
		many(64, batch(u, 8)...),
		many(5, batch(u, 8)...),
		many(32, batch(u, 8)...),
		many(16, edges...),
		many(64, edges...),
		many(10, u, u, u),
		many(64, u, wideSeq),
	}
}

// rnnGoldenInputs returns seed-rnn's golden inputs (rnnGoldenCases); a
// uniform value is 2p−1 with p uniform in [0,1) (a value in [-1,1), exact in
// FP32), a large one 8p−4.
func rnnGoldenInputs() []GoldenInput {
	var out []GoldenInput
	for i, c := range rnnGoldenCases() {
		name := fmt.Sprintf("case-%03d", i)
		r := goldenStream(SeedRNNID, name)
		size := c.steps * rnnFeatures
		data := make([]float32, len(c.kinds)*size)
		names := make([]string, len(c.kinds))
		for j, k := range c.kinds {
			k.fill(r, data[j*size:(j+1)*size], c.steps)
			names[j] = k.name
		}
		out = append(out, GoldenInput{
			Name:        name,
			Description: fmt.Sprintf("batch %d, length %d: %s", len(c.kinds), c.steps, describeKinds(names)),
			Inputs: map[string]numerics.Tensor{
				"input": numerics.NewF32([]int64{int64(len(c.kinds)), int64(c.steps), rnnFeatures}, data),
			},
		})
	}
	return out
}
