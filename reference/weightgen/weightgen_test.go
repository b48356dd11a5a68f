package weightgen

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// The expected values below come from an independent implementation of the
// algorithm in the package comment (a few lines of Python with numpy), and
// SplitMix64(0) from the published reference implementation; they are the
// test vectors a port to another language can check against.

func TestSplitMix64KnownSequence(t *testing.T) {
	r := NewSplitMix64(0)
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	for i, w := range want {
		if got := r.Uint64(); got != w {
			t.Fatalf("draw %d of SplitMix64(0) = %#x, want %#x", i, got, w)
		}
	}
}

func TestStreamSeedIsFNV1a64(t *testing.T) {
	tests := []struct {
		seed, name string
		want       uint64
	}{
		{"aiconform/v1", "conv1.weight", 0x2bd542d22b93044b},
	}
	for _, tt := range tests {
		if got := StreamSeed(tt.seed, tt.name); got != tt.want {
			t.Errorf("StreamSeed(%q, %q) = %#x, want %#x", tt.seed, tt.name, got, tt.want)
		}
	}
}

func TestFloat64Mapping(t *testing.T) {
	// (x>>11)·2^-53 for the first draw of SplitMix64(0).
	want := float64(uint64(0xe220a8397b1dcdaf)>>11) / (1 << 53)
	if got := NewSplitMix64(0).Float64(); got != want {
		t.Fatalf("Float64 = %v, want %v", got, want)
	}
	r := NewSplitMix64(42)
	for range 10000 {
		if u := r.Float64(); u < 0 || u >= 1 {
			t.Fatalf("Float64 = %v, outside [0,1)", u)
		}
	}
}

func TestGenerateVectors(t *testing.T) {
	specs := []Spec{
		{Name: "conv1.weight", Shape: []int64{32, 1, 3, 3}, Init: UniformFanIn(9)},
		{Name: "conv1.bias", Shape: []int64{32}, Init: UniformFanIn(9)},
		{Name: "conv2.weight", Shape: []int64{64, 32, 3, 3}, Init: UniformFanIn(288)},
		{Name: "fc.bias", Shape: []int64{10}, Init: UniformFanIn(3136)},
	}
	want := map[string][]uint32{ // float32 bits of the first three elements
		"conv1.weight": {1032834342, 1046955617, 3197996622},
		"conv1.bias":   {3188263488, 3181222575, 3188099796},
		"conv2.weight": {3155858546, 1025034229, 1026421527},
		"fc.bias":      {3158008611, 3160159834, 1011157437},
	}
	got, err := Generate(Seed, specs)
	if err != nil {
		t.Fatal(err)
	}
	for name, bits := range want {
		tensor := got[name]
		for i, b := range bits {
			if g := math.Float32bits(tensor.F32[i]); g != b {
				t.Errorf("%s[%d] = %v (bits %d), want %v (bits %d)", name, i, tensor.F32[i], g, math.Float32frombits(b), b)
			}
		}
	}
	// Each tensor has its own stream: the order of specs does not matter.
	rev := slices.Clone(specs)
	slices.Reverse(rev)
	again, err := Generate(Seed, rev)
	if err != nil {
		t.Fatal(err)
	}
	for name, tensor := range got {
		if !slices.Equal(tensor.F32, again[name].F32) || !slices.Equal(tensor.Shape, again[name].Shape) {
			t.Errorf("%s differs when the specs are generated in another order", name)
		}
	}
	// Another seed gives other values.
	other, err := Generate("aiconform/v2", specs)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other["fc.bias"].F32, got["fc.bias"].F32) {
		t.Error("seed aiconform/v2 gives the same fc.bias as aiconform/v1")
	}
}

func TestGenerateBoundsAndRules(t *testing.T) {
	specs := []Spec{
		{Name: "w", Shape: []int64{100, 100}, Init: UniformFanIn(4)},
		{Name: "ln.weight", Shape: []int64{8}, Init: ConstantValue(1)},
		{Name: "ln.bias", Shape: []int64{8}, Init: ConstantValue(0)},
	}
	got, err := Generate(Seed, specs)
	if err != nil {
		t.Fatal(err)
	}
	w := got["w"]
	if w.DType != "FP32" || len(w.F32) != 10000 {
		t.Fatalf("w is %s with %d elements, want FP32 with 10000", w.DType, len(w.F32))
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	var mean float64
	for _, v := range w.F32 {
		lo, hi = min(lo, v), max(hi, v)
		mean += float64(v) / 10000
	}
	if lo < -0.5 || hi > 0.5 || lo > -0.49 || hi < 0.49 {
		t.Errorf("w spans [%v, %v], want about [-0.5, 0.5) (bound 1/√4)", lo, hi)
	}
	if math.Abs(mean) > 0.01 {
		t.Errorf("mean of w = %v, want about 0", mean)
	}
	for name, want := range map[string]float32{"ln.weight": 1, "ln.bias": 0} {
		for i, v := range got[name].F32 {
			if v != want {
				t.Fatalf("%s[%d] = %v, want %v", name, i, v, want)
			}
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		want  string
	}{
		{"empty name", []Spec{{Shape: []int64{1}, Init: UniformFanIn(1)}}, "empty name"},
		{"duplicate", []Spec{{Name: "a", Shape: []int64{1}, Init: UniformFanIn(1)}, {Name: "a", Shape: []int64{2}, Init: UniformFanIn(1)}}, `"a" is specified twice`},
		{"negative dim", []Spec{{Name: "a", Shape: []int64{-1}, Init: UniformFanIn(1)}}, "dimension 0 is -1"},
		{"zero bound", []Spec{{Name: "a", Shape: []int64{1}, Init: Init{Kind: Uniform}}}, "uniform bound 0"},
		{"zero fan-in", []Spec{{Name: "a", Shape: []int64{1}, Init: UniformFanIn(0)}}, "uniform bound +Inf"},
		{"infinite centre", []Spec{{Name: "a", Shape: []int64{1}, Init: UniformAround(math.Inf(1), 1)}}, "uniform centre +Inf"},
		{"unknown rule", []Spec{{Name: "a", Shape: []int64{1}, Init: Init{Kind: "normal"}}}, `unknown init rule "normal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(Seed, tt.specs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Generate error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestGenerateCenteredVectors pins uniform(c, b) = c + ((2b)·u − b) with
// vectors from an independent implementation (plain Python binary64).
func TestGenerateCenteredVectors(t *testing.T) {
	specs := []Spec{
		{Name: "encoder.layers.0.norm1.weight", Shape: []int64{128}, Init: UniformAround(1, 0.1)},
		{Name: "encoder.layers.5.norm2.bias", Shape: []int64{128}, Init: UniformBound(0.1)},
		{Name: "token_embedding.weight", Shape: []int64{100, 128}, Init: UniformBound(1)},
	}
	want := map[string][]uint32{ // float32 bits of the first three elements
		"encoder.layers.0.norm1.weight": {1066039033, 1065668054, 1065440384},
		"encoder.layers.5.norm2.bias":   {1033269929, 3179773379, 3178439022},
		"token_embedding.weight":        {3212620278, 3208132854, 1064155605},
	}
	got, err := Generate(Seed, specs)
	if err != nil {
		t.Fatal(err)
	}
	for name, bits := range want {
		for i, b := range bits {
			if g := math.Float32bits(got[name].F32[i]); g != b {
				t.Errorf("%s[%d] = %v (bits %d), want %v (bits %d)", name, i, got[name].F32[i], g, math.Float32frombits(b), b)
			}
		}
	}
	for i, v := range got["encoder.layers.0.norm1.weight"].F32 {
		if v < 0.9 || v > 1.1 {
			t.Fatalf("norm1.weight[%d] = %v, outside [0.9, 1.1]", i, v)
		}
	}
	// A centre of 0 is the plain uniform rule, value for value.
	plain, err := Generate(Seed, []Spec{{Name: "token_embedding.weight", Shape: []int64{100, 128}, Init: Init{Kind: Uniform, Bound: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain["token_embedding.weight"].F32, got["token_embedding.weight"].F32) {
		t.Error("UniformBound(1) differs from Init{Kind: Uniform, Bound: 1}")
	}
}
