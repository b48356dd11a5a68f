package reference

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/plainref"
	"github.com/aiconform/aiconform/reference/weightgen"
	"github.com/aiconform/aiconform/spec"
)

// testModel builds seed-cnn at dtype from its generated weights.
func testModel(t testing.TB, dtype numerics.DType) Model {
	t.Helper()
	m, err := NewSeedCNN(testWeights(t, SeedCNNID), dtype)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// images returns n FP32 images from the named stream: pixel = scale·u with
// u uniform in [0,1); image i of a batch is scaled by scales[i%len(scales)].
func images(name string, n int, scales ...float32) numerics.Tensor {
	if len(scales) == 0 {
		scales = []float32{1}
	}
	r := weightgen.Stream("test", name)
	data := make([]float32, n*784)
	for i := range data {
		data[i] = scales[(i/784)%len(scales)] * unit24(r)
	}
	return numerics.NewF32([]int64{int64(n), 1, 28, 28}, data)
}

// as returns t in dtype (FP32 widened exactly to FP64).
func as(t numerics.Tensor, dtype numerics.DType) numerics.Tensor { return widen(t, dtype) }

func forward(t testing.TB, m Model, x numerics.Tensor) map[string]numerics.Tensor {
	t.Helper()
	out, err := m.Forward(map[string]numerics.Tensor{"input": x})
	if err != nil {
		t.Fatalf("%s/%s Forward: %v", m.ID(), m.Version(), err)
	}
	return out
}

func mustTolerance(t testing.TB, class string) numerics.Tolerance {
	t.Helper()
	tol, ok := spec.Tolerance(class)
	if !ok {
		t.Fatalf("spec has no tolerance class %q", class)
	}
	return tol
}

// TestSeedCNNMatchesPlainGo checks gorgonia against the plain-Go float64
// forward pass: FP64 to about 1e-12, FP32 within the spec's fp32 class.
func TestSeedCNNMatchesPlainGo(t *testing.T) {
	w := testWeights(t, SeedCNNID)
	inputs := []struct {
		name string
		x    numerics.Tensor
	}{
		{"zeros batch 1", numerics.NewF32([]int64{1, 1, 28, 28}, make([]float32, 784))},
		{"uniform batch 1", images("uniform-1", 1)},
		{"checkerboard and ones batch 2", func() numerics.Tensor {
			in, _ := GoldenInputs(SeedCNNID)
			return concat(in[2].Inputs["input"], in[1].Inputs["input"])
		}()},
		// Rows whose logits lie far apart (the first row's first logit is
		// about 830, the second row's are about 0.1): gorgonia's own SoftMax
		// seeds every row's maximum with the tensor's first element, and
		// returns NaN for the rows far below it.
		{"rows far apart batch 3", images("far", 3, 8000, 0, 1)},
		{"uniform batch 8", images("uniform-8", 8)},
		{"bytes 0..255 batch 1", images("bytes", 1, 255)},
	}
	tol32 := mustTolerance(t, "fp32")
	tol64 := numerics.Tolerance{Class: "plain-go", RTol: 1e-12, ATol: 1e-12}
	for _, in := range inputs {
		wantLogits, wantProbs, err := plainref.SeedCNN(w, in.x)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]numerics.Tensor{"logits": wantLogits, "probabilities": wantProbs}
		for _, c := range []struct {
			dtype numerics.DType
			tol   numerics.Tolerance
		}{{numerics.FP64, tol64}, {numerics.FP32, tol32}} {
			t.Run(fmt.Sprintf("%s/%s", in.name, c.dtype), func(t *testing.T) {
				m, err := NewSeedCNN(w, c.dtype)
				if err != nil {
					t.Fatal(err)
				}
				got := forward(t, m, as(in.x, c.dtype))
				for name, wt := range want {
					g := got[name]
					if g.DType != c.dtype {
						t.Errorf("%s is %s, want %s", name, g.DType, c.dtype)
					}
					if d := numerics.Compare(g, wt, c.tol); !d.OK() {
						t.Errorf("%s: %s", name, d.Summary(c.tol))
					}
				}
				checkProbabilities(t, got["probabilities"])
			})
		}
	}
}

// concat stacks FP32 image batches.
func concat(ts ...numerics.Tensor) numerics.Tensor {
	var data []float32
	var n int64
	for _, t := range ts {
		data = append(data, t.F32...)
		n += t.Shape[0]
	}
	return numerics.NewF32([]int64{n, 1, 28, 28}, data)
}

// checkProbabilities checks each row is finite, in [0,1] and sums to 1.
func checkProbabilities(t *testing.T, p numerics.Tensor) {
	t.Helper()
	rows, cols := int(p.Shape[0]), int(p.Shape[1])
	for r := 0; r < rows; r++ {
		var sum float64
		for c := 0; c < cols; c++ {
			v := p.At(r*cols + c)
			if math.IsNaN(v) || v < 0 || v > 1 {
				t.Fatalf("probabilities[%d][%d] = %v, want a value in [0,1]", r, c, v)
			}
			sum += v
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("row %d of probabilities sums to %v, want 1", r, sum)
		}
	}
}

// TestSeedCNNBatchInvariance checks that a batch (including one larger
// than a graph chunk) gives each image the result it gets alone.
func TestSeedCNNBatchInvariance(t *testing.T) {
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		t.Run(string(dtype), func(t *testing.T) {
			m := testModel(t, dtype)
			const n = cnnChunk + 2
			x := as(images("batch", n), dtype)
			all := forward(t, m, x)
			for _, i := range []int{0, 1, cnnChunk - 1, cnnChunk, n - 1} {
				one := numerics.Tensor{DType: dtype, Shape: []int64{1, 1, 28, 28}}
				if dtype == numerics.FP32 {
					one.F32 = x.F32[i*784 : (i+1)*784]
				} else {
					one.F64 = x.F64[i*784 : (i+1)*784]
				}
				alone := forward(t, m, one)
				for _, name := range []string{"logits", "probabilities"} {
					row := all[name]
					for k := 0; k < 10; k++ {
						a, b := row.At(i*10+k), alone[name].At(k)
						if math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(b)) {
							t.Errorf("image %d %s[%d]: %v in the batch of %d, %v alone", i, name, k, a, n, b)
						}
					}
				}
			}
		})
	}
}

// TestSeedCNNMetadata checks the tensor specs and versions.
func TestSeedCNNMetadata(t *testing.T) {
	testMetadata(t, "seed-cnn", testModel)
}

func TestSeedCNNRejectsBadInputs(t *testing.T) {
	m := testModel(t, numerics.FP32)
	good := images("good", 1)
	nan := good.Clone()
	nan.F32[100] = float32(math.NaN())
	inf := good.Clone()
	inf.F32[783] = float32(math.Inf(-1))
	testRejectsBadInputs(t, m, false, []badInput{
		{"missing", map[string]numerics.Tensor{}, `missing input "input"`},
		{"extra", map[string]numerics.Tensor{"input": good, "mask": good}, `unexpected input "mask"`},
		{"dtype", map[string]numerics.Tensor{"input": as(good, numerics.FP64)}, "datatype FP64, want FP32"},
		{"int64", map[string]numerics.Tensor{"input": numerics.NewI64([]int64{1, 1, 28, 28}, make([]int64, 784))}, "datatype INT64, want FP32"},
		{"rank", map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 784}, good.F32)}, "shape [1 784], want [N,1,28,28]"},
		{"channels", map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 3, 28, 28}, make([]float32, 3*784))}, "shape [1 3 28 28]"},
		{"empty batch", map[string]numerics.Tensor{"input": numerics.NewF32([]int64{0, 1, 28, 28}, nil)}, "N ≥ 1"},
		{"short data", map[string]numerics.Tensor{"input": numerics.NewF32([]int64{2, 1, 28, 28}, good.F32)}, "needs 1568 elements, have 784"},
		{"nan", map[string]numerics.Tensor{"input": nan}, "element [0 0 3 16] is NaN"},
		{"inf", map[string]numerics.Tensor{"input": inf}, "element [0 0 27 27] is -Inf"},
	})
}

func TestNewSeedCNNRejectsBadWeights(t *testing.T) {
	testRejectsBadWeights(t, SeedCNNID, NewSeedCNN, []badWeights{
		{"missing", func(w map[string]numerics.Tensor) { delete(w, "conv2.bias") }, numerics.FP32, `lack tensor "conv2.bias"`},
		{"extra", func(w map[string]numerics.Tensor) { w["fc2.weight"] = w["fc.bias"] }, numerics.FP32, `unexpected tensor "fc2.weight"`},
		{"shape", func(w map[string]numerics.Tensor) {
			w["fc.weight"] = numerics.NewF32([]int64{3136, 10}, w["fc.weight"].F32)
		}, numerics.FP32, `"fc.weight" has shape [3136 10], want [10 3136]`},
		{"int", func(w map[string]numerics.Tensor) { w["fc.bias"] = numerics.NewI64([]int64{10}, make([]int64, 10)) }, numerics.FP64, `"fc.bias" is INT64`},
		{"nan", func(w map[string]numerics.Tensor) { w["conv1.bias"].F32[5] = float32(math.NaN()) }, numerics.FP32, `"conv1.bias": element [5] is NaN`},
		{"short", func(w map[string]numerics.Tensor) {
			w["conv1.bias"] = numerics.NewF32([]int64{32}, make([]float32, 31))
		}, numerics.FP32, "needs 32 elements, have 31"},
		{"dtype", nil, numerics.INT64, `"INT64"`},
	})
}

// TestSeedCNNDoesNotAliasItsArguments checks that Forward neither changes
// its input nor depends on the caller's weights after construction.
func TestSeedCNNDoesNotAliasItsArguments(t *testing.T) {
	w := testWeights(t, SeedCNNID)
	m, err := NewSeedCNN(w, numerics.FP32)
	if err != nil {
		t.Fatal(err)
	}
	x := images("alias", 2)
	before := x.Clone()
	first := forward(t, m, x)
	if !slices.Equal(x.F32, before.F32) {
		t.Fatal("Forward changed its input")
	}
	for _, v := range w {
		clear(v.F32)
	}
	second := forward(t, m, x)
	if !slices.Equal(first["logits"].F32, second["logits"].F32) {
		t.Fatal("zeroing the caller's weight tensors changed the model's outputs")
	}
}

// TestSeedCNNConcurrentForward runs Forward from many goroutines with
// several batch sizes (several calls share a size, so programs are reused
// and built concurrently) and checks every result equals the sequential
// one bit for bit, and that the pool stays bounded. Run it with -race.
// (seed-rnn's test of the same name runs more shapes than its pool keeps.)
func TestSeedCNNConcurrentForward(t *testing.T) {
	var inputs []map[string]numerics.Tensor
	for i, n := range []int{1, 2, 3, 1, 2, 5, 1, 3, 2, 1, 4, 1} {
		inputs = append(inputs, map[string]numerics.Tensor{"input": images(fmt.Sprintf("concurrent-%d", i), n)})
	}
	testConcurrentForward(t, testModel(t, numerics.FP32), inputs)
}

// TestSeedCNNLayout pins the PyTorch layouts with hand-made weights: conv1
// channel 7 and conv2 channel 5 pass the centre tap through, fc class 2
// reads NCHW feature 5·49 + 3·7 + 4, fc class 9 reads the index a wrong
// (NHWC) flattening would use.
func TestSeedCNNLayout(t *testing.T) {
	w := map[string]numerics.Tensor{}
	for _, s := range SeedCNNWeightSpecs() {
		n, _ := numerics.ShapeElements(s.Shape)
		w[s.Name] = numerics.NewF32(s.Shape, make([]float32, n))
	}
	w["conv1.weight"].F32[7*9+4] = 1
	w["conv2.weight"].F32[(5*32+7)*9+4] = 1
	w["fc.weight"].F32[2*3136+5*49+3*7+4] = 1
	w["fc.weight"].F32[9*3136+(3*7+4)*64+5] = 1
	w["fc.bias"].F32[0] = -0.5
	x := make([]float32, 784)
	x[13*28+18] = 2 // pooled twice to (3, 4)
	x[0] = -7       // removed by the ReLU
	want := []float64{-0.5, 0, 2, 0, 0, 0, 0, 0, 0, 0}
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		m, err := NewSeedCNN(w, dtype)
		if err != nil {
			t.Fatal(err)
		}
		got := forward(t, m, as(numerics.NewF32([]int64{1, 1, 28, 28}, x), dtype))["logits"]
		if !slices.Equal(got.Float64s(), want) {
			t.Errorf("%s logits = %v, want %v", dtype, got.Float64s(), want)
		}
	}
}
