package reference

import (
	"fmt"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// tokenKind fills the token positions of one seed-transformer sequence,
// drawing from r when it needs to.
type tokenKind struct {
	name string
	fill func(r *weightgen.SplitMix64, ids []int64)
}

// randomToken returns a token id uniform in 0…99 from one draw x:
// ((x>>32)·100)>>32.
func randomToken(r *weightgen.SplitMix64) int64 {
	return int64(((r.Uint64() >> 32) * tfVocab) >> 32)
}

// constTokens is a sequence whose every token is id.
func constTokens(name string, id int64) tokenKind {
	return tokenKind{name, func(_ *weightgen.SplitMix64, ids []int64) {
		for i := range ids {
			ids[i] = id
		}
	}}
}

var (
	randomTokens = tokenKind{"random ids", func(r *weightgen.SplitMix64, ids []int64) {
		for i := range ids {
			ids[i] = randomToken(r)
		}
	}}
	zeroTokens   = constTokens("all id 0", 0)
	maxTokens    = constTokens("all id 99", tfVocab-1)
	runTokens    = constTokens("constant run of id 42", 42)
	periodTokens = tokenKind{"repeating 0…9 (id t mod 10)", func(_ *weightgen.SplitMix64, ids []int64) {
		for i := range ids {
			ids[i] = int64(i % 10)
		}
	}}
	alternateTokens = tokenKind{"alternating 0, 99", func(_ *weightgen.SplitMix64, ids []int64) {
		for i := range ids {
			ids[i] = int64(i%2) * (tfVocab - 1)
		}
	}}
	ascendingTokens = tokenKind{"ascending ids t mod 100", func(_ *weightgen.SplitMix64, ids []int64) {
		for i := range ids {
			ids[i] = int64(i % tfVocab)
		}
	}}
)

// tfGoldenCase is one seed-transformer golden case: a batch of sequences
// of length T. lengths, when not nil, sends an attention_mask whose row s
// has lengths[s] ones; the padding positions hold id 0, or random ids when
// randomPad is set. kinds[s] fills sequence s.
type tfGoldenCase struct {
	T         int
	kinds     []tokenKind
	lengths   []int
	randomPad bool
}

// tfGoldenCases lists seed-transformer's golden cases in order.
func tfGoldenCases() []tfGoldenCase {
	r := randomTokens
	eight := func(k tokenKind) []tokenKind { return []tokenKind{k, k, k, k, k, k, k, k} }
	one := func(k tokenKind) []tokenKind { return []tokenKind{k} }
	return []tfGoldenCase{
		// Batch 1, no mask, the lengths of the spec's checks and more.
		{T: 1, kinds: one(r)},
		{T: 7, kinds: one(r)},
		{T: 16, kinds: one(r)},
		{T: 33, kinds: one(r)},
		{T: 64, kinds: one(r)},
		{T: 48, kinds: one(r)},
		// Batch 1 edge sequences: extreme ids, constant runs, patterns.
		{T: 1, kinds: one(zeroTokens)},
		{T: 1, kinds: one(maxTokens)},
		{T: 16, kinds: one(zeroTokens)},
		{T: 16, kinds: one(maxTokens)},
		{T: 64, kinds: one(runTokens)},
		{T: 33, kinds: one(periodTokens)},
		{T: 7, kinds: one(alternateTokens)},
		{T: 64, kinds: one(ascendingTokens)},
		// Batch 1 with a mask: all ones, and padded.
		{T: 16, kinds: one(r), lengths: []int{16}},
		{T: 16, kinds: one(r), lengths: []int{7}},
		{T: 64, kinds: one(r), lengths: []int{1}},
		{T: 64, kinds: one(r), lengths: []int{33}, randomPad: true},
		// Batch 8, no mask.
		{T: 1, kinds: eight(r)},
		{T: 7, kinds: eight(r)},
		{T: 16, kinds: eight(r)},
		{T: 33, kinds: eight(r)},
		{T: 64, kinds: eight(r)},
		{T: 16, kinds: []tokenKind{zeroTokens, maxTokens, runTokens, periodTokens, alternateTokens, ascendingTokens, r, r}},
		{T: 33, kinds: eight(periodTokens)},
		// Batch 8 with a mask: pad-heavy and mixed lengths.
		{T: 64, kinds: eight(r), lengths: []int{64, 1, 1, 2, 3, 1, 5, 1}},
		{T: 64, kinds: eight(r), lengths: []int{64, 63, 48, 33, 32, 16, 7, 1}, randomPad: true},
		{T: 16, kinds: eight(r), lengths: []int{16, 15, 8, 7, 3, 2, 1, 1}},
		{T: 33, kinds: eight(r), lengths: []int{33, 1, 17, 2, 33, 9, 4, 30}},
		{T: 7, kinds: eight(r), lengths: []int{7, 7, 7, 7, 7, 7, 7, 7}},
		{T: 7, kinds: eight(r), lengths: []int{7, 6, 5, 4, 3, 2, 1, 1}, randomPad: true},
		{T: 1, kinds: eight(r), lengths: []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{T: 33, kinds: []tokenKind{runTokens, zeroTokens, maxTokens, periodTokens, alternateTokens, ascendingTokens, r, r}, lengths: []int{1, 33, 2, 20, 3, 33, 1, 5}},
		// Odd batch sizes and short sequences.
		{T: 7, kinds: []tokenKind{r, maxTokens, zeroTokens}, lengths: []int{7, 3, 1}},
		{T: 16, kinds: []tokenKind{r, r}},
		{T: 2, kinds: one(r)},
		{T: 2, kinds: eight(r), lengths: []int{2, 1, 2, 1, 1, 2, 2, 1}},
		{T: 5, kinds: []tokenKind{alternateTokens, r, r, r}, lengths: []int{5, 4, 5, 1}, randomPad: true},
	}
}

// tfGoldenInputs returns seed-transformer's golden inputs (tfGoldenCases).
// Sequence s of a case fills its first lengths[s] positions (all T without
// a mask) with its kind, drawing random ids from the case's stream in batch
// order; a random id is ((x>>32)·100)>>32 for a draw x. Padding positions
// hold id 0, or, when the case says so, random ids drawn after the whole
// batch's tokens, so that a server must ignore them.
func tfGoldenInputs() []GoldenInput {
	const modelID = SeedTransformerID
	var out []GoldenInput
	for i, c := range tfGoldenCases() {
		name := fmt.Sprintf("case-%03d", i)
		r := goldenStream(modelID, name)
		n := len(c.kinds)
		ids := make([]int64, n*c.T)
		lengths := c.lengths
		if lengths == nil {
			lengths = make([]int, n)
			for s := range lengths {
				lengths[s] = c.T
			}
		}
		var names []string
		for s, k := range c.kinds {
			k.fill(r, ids[s*c.T:s*c.T+lengths[s]])
			names = append(names, k.name)
		}
		if c.randomPad {
			for s := range n {
				for t := lengths[s]; t < c.T; t++ {
					ids[s*c.T+t] = randomToken(r)
				}
			}
		}
		desc := describeKinds(names)
		inputs := map[string]numerics.Tensor{"input_ids": numerics.NewI64([]int64{int64(n), int64(c.T)}, ids)}
		if c.lengths == nil {
			desc = fmt.Sprintf("batch %d, length %d, no attention_mask: %s", n, c.T, desc)
		} else {
			mask := make([]int64, n*c.T)
			ls := make([]string, n)
			padded := false
			for s, l := range c.lengths {
				for t := range l {
					mask[s*c.T+t] = 1
				}
				ls[s] = fmt.Sprint(l)
				padded = padded || l < c.T
			}
			pad := "no padding"
			switch {
			case padded && c.randomPad:
				pad = "padding holds random ids"
			case padded:
				pad = "padding holds id 0"
			}
			desc = fmt.Sprintf("batch %d, length %d, attention_mask with tokens per row %s, %s: %s", n, c.T, strings.Join(ls, ","), pad, desc)
			inputs["attention_mask"] = numerics.NewI64([]int64{int64(n), int64(c.T)}, mask)
		}
		out = append(out, GoldenInput{Name: name, Description: desc, Inputs: inputs})
	}
	return out
}
