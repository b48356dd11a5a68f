package reference

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/plainref"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// testRNN builds seed-rnn at dtype from its generated weights.
func testRNN(t testing.TB, dtype numerics.DType) *seedRNN {
	t.Helper()
	m, err := NewSeedRNN(testWeights(t, SeedRNNID), dtype)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*seedRNN)
}

// sequences returns n FP32 sequences of the given length from the named
// stream, each value uniform in [-1,1).
func sequences(name string, n, steps int) numerics.Tensor {
	r := weightgen.Stream("test", name)
	data := make([]float32, n*steps*rnnFeatures)
	for i := range data {
		data[i] = 2*unit24(r) - 1
	}
	return numerics.NewF32([]int64{int64(n), int64(steps), rnnFeatures}, data)
}

// TestSeedRNNMatchesPlainGo checks gorgonia against the plain-Go float64
// forward pass: FP64 to about 1e-12, FP32 within the spec's fp32 class.
func TestSeedRNNMatchesPlainGo(t *testing.T) {
	w := testWeights(t, SeedRNNID)
	models := map[numerics.DType]Model{}
	for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
		m, err := NewSeedRNN(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		models[dt] = m
	}
	tol32 := mustTolerance(t, "fp32")
	tol64 := numerics.Tolerance{Class: "plain-go", RTol: 1e-12, ATol: 1e-12}
	for _, steps := range []int{1, 7, 64} {
		for _, n := range []int{1, 8} {
			x := sequences(fmt.Sprintf("plain-%d-%d", n, steps), n, steps)
			want, err := plainref.SeedRNN(w, x)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				dtype numerics.DType
				tol   numerics.Tolerance
			}{{numerics.FP64, tol64}, {numerics.FP32, tol32}} {
				t.Run(fmt.Sprintf("T%d/N%d/%s", steps, n, c.dtype), func(t *testing.T) {
					got := forward(t, models[c.dtype], as(x, c.dtype))["logits"]
					if got.DType != c.dtype || !slices.Equal(got.Shape, []int64{int64(n), 2}) {
						t.Fatalf("logits are %s %v, want %s [%d 2]", got.DType, got.Shape, c.dtype, n)
					}
					d := numerics.Compare(got, want, c.tol)
					if !d.OK() {
						t.Errorf("logits: %s", d.Summary(c.tol))
					}
					t.Logf("against plain Go: max abs error %.3g, max rel error %.3g", d.MaxAbs, d.MaxRel)
				})
			}
		}
	}
}

// TestSeedRNNBatchInvariance checks that a batch (of 8, and one larger than
// a graph chunk) gives each sequence the result it gets alone.
func TestSeedRNNBatchInvariance(t *testing.T) {
	tol := mustTolerance(t, "fp32")
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		m := testRNN(t, dtype)
		for _, c := range []struct{ n, steps int }{{8, 64}, {rnnChunk + 2, 7}} {
			t.Run(fmt.Sprintf("%s/N%d/T%d", dtype, c.n, c.steps), func(t *testing.T) {
				x := as(sequences(fmt.Sprintf("batch-%d", c.n), c.n, c.steps), dtype)
				all := forward(t, m, x)["logits"]
				size := c.steps * rnnFeatures
				for i := range c.n {
					one := numerics.Tensor{DType: dtype, Shape: []int64{1, int64(c.steps), rnnFeatures}}
					if dtype == numerics.FP32 {
						one.F32 = x.F32[i*size : (i+1)*size]
					} else {
						one.F64 = x.F64[i*size : (i+1)*size]
					}
					alone := forward(t, m, one)["logits"]
					row := numerics.Tensor{DType: dtype, Shape: []int64{1, rnnClasses}}
					if dtype == numerics.FP32 {
						row.F32 = all.F32[i*rnnClasses : (i+1)*rnnClasses]
					} else {
						row.F64 = all.F64[i*rnnClasses : (i+1)*rnnClasses]
					}
					if d := numerics.Compare(row, alone, tol); !d.OK() {
						t.Errorf("sequence %d of %d: batch against alone: %s", i, c.n, d.Summary(tol))
					}
				}
			})
		}
	}
}

// TestSeedRNNMetadata checks the tensor specs and versions.
func TestSeedRNNMetadata(t *testing.T) {
	testMetadata(t, "seed-rnn", func(t testing.TB, dtype numerics.DType) Model { return testRNN(t, dtype) })
}

func TestSeedRNNRejectsBadInputs(t *testing.T) {
	m := testRNN(t, numerics.FP32)
	good := sequences("good", 1, 3)
	nan := good.Clone()
	nan.F32[13] = float32(math.NaN())
	inf := good.Clone()
	inf.F32[29] = float32(math.Inf(1))
	in := func(x numerics.Tensor) map[string]numerics.Tensor { return map[string]numerics.Tensor{"input": x} }
	testRejectsBadInputs(t, m, true, []badInput{
		{"missing", map[string]numerics.Tensor{}, `missing input "input"`},
		{"extra", map[string]numerics.Tensor{"input": good, "h0": good}, `unexpected input "h0"`},
		{"dtype", in(as(good, numerics.FP64)), "datatype FP64, want FP32"},
		{"int64", in(numerics.NewI64([]int64{1, 3, 10}, make([]int64, 30))), "datatype INT64, want FP32"},
		{"rank 2", in(numerics.NewF32([]int64{3, 10}, good.F32)), "shape [3 10], want [N,T,10]"},
		{"rank 4", in(numerics.NewF32([]int64{1, 1, 3, 10}, good.F32)), "shape [1 1 3 10]"},
		{"features", in(numerics.NewF32([]int64{1, 6, 5}, good.F32)), "shape [1 6 5]"},
		{"empty batch", in(numerics.NewF32([]int64{0, 3, 10}, nil)), "N ≥ 1"},
		{"no steps", in(numerics.NewF32([]int64{1, 0, 10}, nil)), "1 ≤ T ≤ 64"},
		{"too long", in(sequences("long", 1, 65)), "shape [1 65 10]"},
		{"short data", in(numerics.NewF32([]int64{2, 3, 10}, good.F32)), "needs 60 elements, have 30"},
		{"nan", in(nan), "element [0 1 3] is NaN"},
		{"inf", in(inf), "element [0 2 9] is +Inf"},
	})
	// The longest sequence of the domain is accepted.
	if _, err := m.Forward(in(sequences("longest", 1, rnnMaxSteps))); err != nil {
		t.Errorf("Forward of T = %d: %v", rnnMaxSteps, err)
	}
}

func TestNewSeedRNNRejectsBadWeights(t *testing.T) {
	testRejectsBadWeights(t, SeedRNNID, NewSeedRNN, []badWeights{
		{"missing", func(w map[string]numerics.Tensor) { delete(w, "rnn.bias_hh_l1") }, numerics.FP32, `lack tensor "rnn.bias_hh_l1"`},
		{"extra", func(w map[string]numerics.Tensor) { w["rnn.weight_ih_l2"] = w["rnn.weight_hh_l1"] }, numerics.FP32, `unexpected tensor "rnn.weight_ih_l2"`},
		{"transposed", func(w map[string]numerics.Tensor) {
			w["rnn.weight_ih_l0"] = numerics.NewF32([]int64{10, 50}, w["rnn.weight_ih_l0"].F32)
		}, numerics.FP32, `"rnn.weight_ih_l0" has shape [10 50], want [50 10]`},
		{"int", func(w map[string]numerics.Tensor) { w["fc.bias"] = numerics.NewI64([]int64{2}, make([]int64, 2)) }, numerics.FP64, `"fc.bias" is INT64`},
		{"inf", func(w map[string]numerics.Tensor) { w["rnn.weight_hh_l0"].F32[51] = float32(math.Inf(-1)) }, numerics.FP32, `"rnn.weight_hh_l0": element [1 1] is -Inf`},
		{"short", func(w map[string]numerics.Tensor) {
			w["rnn.bias_ih_l0"] = numerics.NewF32([]int64{50}, make([]float32, 49))
		}, numerics.FP32, "needs 50 elements, have 49"},
		{"dtype", nil, numerics.INT64, `"INT64"`},
	})
}

// TestSeedRNNLayout pins the nn.RNN layouts and the recurrence with
// hand-made weights (as plainref's test of the same name): layer 0 unit 3
// reads feature 7 and unit 5 reads unit 3 of the step before; layer 1 unit
// 2 reads layer 0 unit 5, unit 0 has both biases (0.25 each) and reads
// itself; fc class 1 reads unit 2 and class 0 unit 0. Only step 0 of
// sequence 1 of 2 is set.
func TestSeedRNNLayout(t *testing.T) {
	w := map[string]numerics.Tensor{}
	for _, s := range SeedRNNWeightSpecs() {
		n, _ := numerics.ShapeElements(s.Shape)
		w[s.Name] = numerics.NewF32(s.Shape, make([]float32, n))
	}
	w["rnn.weight_ih_l0"].F32[3*10+7] = 1
	w["rnn.weight_hh_l0"].F32[5*50+3] = 1
	w["rnn.weight_ih_l1"].F32[2*50+5] = 1
	w["rnn.bias_ih_l1"].F32[0] = 0.25
	w["rnn.bias_hh_l1"].F32[0] = 0.25
	w["rnn.weight_hh_l1"].F32[0] = 1
	w["fc.weight"].F32[1*50+2] = 1
	w["fc.weight"].F32[0] = 1
	w["fc.bias"].F32[0] = -0.5
	x := make([]float32, 2*2*10)
	x[20+7] = 0.5 // sequence 1, step 0, feature 7
	th := math.Tanh
	want := []float64{
		-0.5 + th(0.5+th(0.5)), 0, // sequence 0: only the biases act
		-0.5 + th(0.5+th(0.5)), th(th(th(0.5))),
	}
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		m, err := NewSeedRNN(w, dtype)
		if err != nil {
			t.Fatal(err)
		}
		got := forward(t, m, as(numerics.NewF32([]int64{2, 2, 10}, x), dtype))["logits"]
		for i, v := range got.Float64s() {
			if math.Abs(v-want[i]) > 1e-6 {
				t.Errorf("%s logits = %v, want %v", dtype, got.Float64s(), want)
				break
			}
		}
	}
}

// TestSeedRNNDoesNotAliasItsArguments checks that Forward neither changes
// its input nor depends on the caller's weights after construction, and
// that a reused program gives the same result every time.
func TestSeedRNNDoesNotAliasItsArguments(t *testing.T) {
	w := testWeights(t, SeedRNNID)
	m, err := NewSeedRNN(w, numerics.FP32)
	if err != nil {
		t.Fatal(err)
	}
	x := sequences("alias", 2, 9)
	before := x.Clone()
	first := forward(t, m, x)
	if !slices.Equal(x.F32, before.F32) {
		t.Fatal("Forward changed its input")
	}
	for _, v := range w {
		clear(v.F32)
	}
	for i := range 3 {
		again := forward(t, m, x)
		if !slices.Equal(first["logits"].F32, again["logits"].F32) {
			t.Fatalf("run %d: logits %v, first run %v (zeroed caller weights or a reused program changed the outputs)", i+2, again["logits"].F32, first["logits"].F32)
		}
	}
}

// TestSeedRNNConcurrentForward runs Forward from many goroutines with more
// (batch, length) shapes than the pool keeps and checks every result equals
// the sequential one bit for bit, and that the pool stays bounded. Run it
// with -race.
func TestSeedRNNConcurrentForward(t *testing.T) {
	var inputs []map[string]numerics.Tensor
	for i, s := range [][2]int{
		{1, 1}, {1, 7}, {2, 7}, {1, 1}, {3, 16}, {1, 64}, {2, 7}, {8, 3},
		{1, 2}, {4, 5}, {1, 7}, {2, 1}, {5, 9}, {1, 1}, {3, 4}, {1, 64},
	} {
		inputs = append(inputs, map[string]numerics.Tensor{"input": sequences(fmt.Sprintf("concurrent-%d", i), s[0], s[1])})
	}
	testConcurrentForward(t, testRNN(t, numerics.FP32), inputs)
}

// TestSeedRNNWeightSpecs pins the tensor names, shapes and bounds of the
// reference model contract (spec/v1/reference-models.md).
func TestSeedRNNWeightSpecs(t *testing.T) {
	want := map[string][]int64{
		"rnn.weight_ih_l0": {50, 10}, "rnn.weight_hh_l0": {50, 50}, "rnn.bias_ih_l0": {50}, "rnn.bias_hh_l0": {50},
		"rnn.weight_ih_l1": {50, 50}, "rnn.weight_hh_l1": {50, 50}, "rnn.bias_ih_l1": {50}, "rnn.bias_hh_l1": {50},
		"fc.weight": {2, 50}, "fc.bias": {2},
	}
	specs := SeedRNNWeightSpecs()
	if len(specs) != len(want) {
		t.Errorf("%d specs, want %d", len(specs), len(want))
	}
	for _, s := range specs {
		if !slices.Equal(s.Shape, want[s.Name]) {
			t.Errorf("%s has shape %v, want %v", s.Name, s.Shape, want[s.Name])
		}
		if s.Init.Kind != weightgen.Uniform || s.Init.Bound != 1/math.Sqrt(50) {
			t.Errorf("%s has rule %+v, want uniform(1/√50)", s.Name, s.Init)
		}
	}
}

// TestSeedRNNGoldenInputs checks that seed-rnn's golden inputs cover the
// batch sizes, lengths and edge inputs spec/v1/reference-models.md lists for
// the golden sets, and that they are deterministic.
func TestSeedRNNGoldenInputs(t *testing.T) {
	in, err := GoldenInputs(SeedRNNID)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) < 32 {
		t.Fatalf("%d golden inputs, want at least 32", len(in))
	}
	again, _ := GoldenInputs(SeedRNNID)
	batches, lengths := map[int64]int{}, map[int64]bool{}
	found := map[string]bool{}
	for i, c := range in {
		x := c.Inputs["input"]
		if c.Name != fmt.Sprintf("case-%03d", i) || len(c.Inputs) != 1 || x.DType != numerics.FP32 || x.Validate() != nil {
			t.Fatalf("case %d is %s with inputs %v", i, c.Name, c.Inputs)
		}
		if !slices.Equal(x.F32, again[i].Inputs["input"].F32) {
			t.Errorf("%s differs between two calls", c.Name)
		}
		n, steps := x.Shape[0], x.Shape[1]
		if x.Shape[2] != 10 || steps < 1 || steps > 64 {
			t.Errorf("%s has shape %v, want [N,T,10] with 1 ≤ T ≤ 64", c.Name, x.Shape)
		}
		if !strings.HasPrefix(c.Description, fmt.Sprintf("batch %d, length %d: ", n, steps)) {
			t.Errorf("%s description %q does not start with its batch and length", c.Name, c.Description)
		}
		batches[n]++
		lengths[steps] = true
		seq := x.F32[:steps*10] // the first sequence of the batch
		all := func(v float32) bool { return !slices.ContainsFunc(seq, func(f float32) bool { return f != v }) }
		found["zeros"] = found["zeros"] || all(0)
		found["+1"] = found["+1"] || all(1)
		found["-1"] = found["-1"] || all(-1)
		found["0.5 for 64 steps"] = found["0.5 for 64 steps"] || (steps == 64 && all(0.5))
		found["alternating"] = found["alternating"] || (steps >= 16 && seq[0] == 1 && seq[10] == -1 && seq[20] == 1 && seq[(steps-1)*10] == float32(1-2*((steps-1)%2)))
		found["step change"] = found["step change"] || (steps >= 16 && seq[0] == -0.5 && seq[(steps/2-1)*10] == -0.5 && seq[(steps/2)*10] == 0.5 && seq[len(seq)-1] == 0.5)
		found["uniform"] = found["uniform"] || (steps == 64 && slices.Min(seq) < -0.9 && slices.Max(seq) > 0.9 && slices.Max(seq) < 1)
	}
	for _, k := range []string{"zeros", "+1", "-1", "0.5 for 64 steps", "alternating", "step change", "uniform"} {
		if !found[k] {
			t.Errorf("no golden input is a %s sequence", k)
		}
	}
	for _, steps := range []int64{1, 7, 16, 64} {
		if !lengths[steps] {
			t.Errorf("no golden input has length %d", steps)
		}
	}
	if batches[1] < 8 || batches[8] < 6 {
		t.Errorf("%d golden inputs of batch 1 and %d of batch 8, want at least 8 and 6", batches[1], batches[8])
	}
}
