package plainref

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// tfShapes are seed-transformer's tensor names and shapes (the reference
// model contract in spec/v1/reference-models.md).
func tfShapes() map[string][]int64 {
	s := map[string][]int64{
		"token_embedding.weight": {100, 128},
		"fc.weight":              {100, 128},
		"fc.bias":                {100},
	}
	for l := 0; l < 6; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		for name, shape := range map[string][]int64{
			"self_attn.in_proj_weight": {384, 128}, "self_attn.in_proj_bias": {384},
			"self_attn.out_proj.weight": {128, 128}, "self_attn.out_proj.bias": {128},
			"linear1.weight": {512, 128}, "linear1.bias": {512},
			"linear2.weight": {128, 512}, "linear2.bias": {128},
			"norm1.weight": {128}, "norm1.bias": {128}, "norm2.weight": {128}, "norm2.bias": {128},
		} {
			s[p+name] = shape
		}
	}
	return s
}

// tfRandomWeights returns seed-transformer weights drawn uniformly from
// [-0.2, 0.2), LayerNorm weights from [0.8, 1.2).
func tfRandomWeights(t *testing.T) map[string]numerics.Tensor {
	t.Helper()
	var specs []weightgen.Spec
	for name, shape := range tfShapes() {
		init := weightgen.UniformBound(0.2)
		if strings.HasSuffix(name, "norm1.weight") || strings.HasSuffix(name, "norm2.weight") {
			init = weightgen.UniformAround(1, 0.2)
		}
		specs = append(specs, weightgen.Spec{Name: name, Shape: shape, Init: init})
	}
	w, err := weightgen.Generate("plainref-test", specs)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPositionalEncoding(t *testing.T) {
	pe := PositionalEncoding(64)
	if len(pe) != 64*128 {
		t.Fatalf("PositionalEncoding(64) has %d values, want %d", len(pe), 64*128)
	}
	tests := []struct {
		t, j int
		want float64
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 126, 0}, {0, 127, 1},
		{1, 0, math.Sin(1)}, {1, 1, math.Cos(1)},
		{5, 2, math.Sin(5 / math.Pow(10000, 2.0/128))},
		{63, 127, math.Cos(63 / math.Pow(10000, 126.0/128))},
		{63, 64, math.Sin(63 / math.Pow(10000, 64.0/128))}, // = sin(0.63)
	}
	for _, tt := range tests {
		if got := pe[tt.t*128+tt.j]; got != tt.want {
			t.Errorf("PE[%d,%d] = %v, want %v", tt.t, tt.j, got, tt.want)
		}
	}
	if math.Abs(pe[63*128+64]-math.Sin(0.63)) > 1e-15 {
		t.Errorf("PE[63,64] = %v, want sin(63/100) = %v", pe[63*128+64], math.Sin(0.63))
	}
	if !slices.Equal(PositionalEncoding(7), pe[:7*128]) {
		t.Error("PositionalEncoding(7) is not the first 7 rows of PositionalEncoding(64)")
	}
}

// TestSeedTransformerPadding checks the mask semantics: a sequence padded
// to a longer length, with any ids in the padding, has bit for bit the
// logits it has alone at its token positions; an all-ones mask is no mask;
// and a padded key changes the logits when it is not masked.
func TestSeedTransformerPadding(t *testing.T) {
	w := tfRandomWeights(t)
	alone := numerics.NewI64([]int64{1, 5}, []int64{4, 99, 0, 17, 56})
	want, err := SeedTransformer(w, alone, numerics.Tensor{})
	if err != nil {
		t.Fatal(err)
	}
	ones, err := SeedTransformer(w, alone, numerics.NewI64([]int64{1, 5}, []int64{1, 1, 1, 1, 1}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ones.F64, want.F64) {
		t.Error("an all-ones mask changed the logits")
	}
	ids := numerics.NewI64([]int64{2, 9}, []int64{
		4, 99, 0, 17, 56, 3, 3, 71, 0,
		1, 2, 3, 4, 5, 6, 7, 8, 9,
	})
	mask := numerics.NewI64([]int64{2, 9}, []int64{
		1, 1, 1, 1, 1, 0, 0, 0, 0,
		1, 1, 1, 1, 1, 1, 1, 1, 1,
	})
	got, err := SeedTransformer(w, ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Shape, []int64{2, 9, 100}) {
		t.Fatalf("logits shape %v, want [2 9 100]", got.Shape)
	}
	if !slices.Equal(got.F64[:500], want.F64) {
		t.Error("padding changed the logits at the token positions")
	}
	for i, v := range got.F64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("logit %d is %v, want finite (padding included)", i, v)
		}
	}
	unmasked, err := SeedTransformer(w, ids, numerics.Tensor{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(unmasked.F64[:500], want.F64) {
		t.Error("without the mask the padding ids do not change the first sequence: the test cannot tell masking from not")
	}
}

func TestSeedTransformerErrors(t *testing.T) {
	w := tfRandomWeights(t)
	short := tfRandomWeights(t)
	short["encoder.layers.2.linear1.bias"] = numerics.NewF64([]int64{512}, make([]float64, 500))
	ids := numerics.NewI64([]int64{1, 3}, []int64{1, 2, 3})
	mask := func(v ...int64) numerics.Tensor { return numerics.NewI64([]int64{1, 3}, v) }
	tests := []struct {
		name      string
		w         map[string]numerics.Tensor
		ids, mask numerics.Tensor
		want      string
	}{
		{"missing weight", map[string]numerics.Tensor{}, ids, numerics.Tensor{}, `lack tensor "token_embedding.weight"`},
		{"short weight", short, ids, numerics.Tensor{}, `"encoder.layers.2.linear1.bias": shape [512] needs 512 elements, have 500`},
		{"float ids", w, numerics.NewF64([]int64{1, 3}, []float64{1, 2, 3}), numerics.Tensor{}, "input_ids is FP64 [1 3]"},
		{"too long", w, numerics.NewI64([]int64{1, 65}, make([]int64, 65)), numerics.Tensor{}, "1 ≤ T ≤ 64"},
		{"id 100", w, numerics.NewI64([]int64{1, 3}, []int64{1, 100, 3}), numerics.Tensor{}, "element [0 1] is 100, want 0…99"},
		{"mask shape", w, ids, numerics.NewI64([]int64{3, 1}, []int64{1, 1, 1}), "attention_mask is INT64 [3 1], want INT64 [1 3]"},
		{"mask hole", w, ids, mask(1, 0, 1), "row 0 is [1 0 1], want ones followed by zeros"},
		{"mask value", w, ids, mask(1, 2, 0), "row 0 is [1 2 0]"},
		{"mask empty row", w, ids, mask(0, 0, 0), "row 0 has no 1"},
	}
	for _, tt := range tests {
		if _, err := SeedTransformer(tt.w, tt.ids, tt.mask); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
