package plainref

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

func TestSoftmax(t *testing.T) {
	tests := []struct {
		name string
		row  []float64
		want []float64
	}{
		{"uniform", []float64{3, 3, 3, 3}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"log weights", []float64{0, math.Log(3)}, []float64{0.25, 0.75}},
		{"large", []float64{1000, 1000 + math.Log(3)}, []float64{0.25, 0.75}},
		{"far below", []float64{-1000, -1000 - math.Log(1.0/3)}, []float64{0.25, 0.75}},
	}
	for _, tt := range tests {
		got := Softmax(tt.row, 1, len(tt.row))
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-12 {
				t.Errorf("%s: Softmax = %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

// zeroWeights returns seed-cnn weights that are all zero.
func zeroWeights() map[string]numerics.Tensor {
	w := map[string]numerics.Tensor{}
	for name, shape := range map[string][]int64{
		"conv1.weight": {32, 1, 3, 3}, "conv1.bias": {32},
		"conv2.weight": {64, 32, 3, 3}, "conv2.bias": {64},
		"fc.weight": {10, 3136}, "fc.bias": {10},
	} {
		n, _ := numerics.ShapeElements(shape)
		w[name] = numerics.NewF64(shape, make([]float64, n))
	}
	return w
}

func TestSeedCNNLayout(t *testing.T) {
	// conv1 channel 7 and conv2 channel 5 pass the centre pixel through;
	// fc class 2 reads flat feature 5·49 + 3·7 + 4 (NCHW), fc class 9 reads
	// the mirrored index of a wrong (NHWC) flattening.
	w := zeroWeights()
	w["conv1.weight"].F64[7*9+4] = 1
	w["conv2.weight"].F64[(5*32+7)*9+4] = 1
	w["fc.weight"].F64[2*3136+5*49+3*7+4] = 1
	w["fc.weight"].F64[9*3136+(3*7+4)*64+5] = 1
	w["fc.bias"].F64[0] = -0.5
	x := make([]float64, 784)
	x[13*28+18] = 2 // pooled twice to (3, 4)
	x[0] = -7       // removed by the ReLU
	logits, probs, err := SeedCNN(w, numerics.NewF64([]int64{1, 1, 28, 28}, x))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{-0.5, 0, 2, 0, 0, 0, 0, 0, 0, 0}
	for i, v := range want {
		if logits.F64[i] != v {
			t.Fatalf("logits = %v, want %v", logits.F64, want)
		}
	}
	if probs.F64[2] <= probs.F64[1] || math.Abs(probs.F64[1]/probs.F64[2]-math.Exp(-2)) > 1e-15 {
		t.Errorf("probabilities = %v, want the softmax of the logits", probs.F64)
	}
}

func TestSeedCNNErrors(t *testing.T) {
	good := numerics.NewF64([]int64{1, 1, 28, 28}, make([]float64, 784))
	short := zeroWeights()
	short["fc.bias"] = numerics.NewF64([]int64{10}, make([]float64, 9))
	tests := []struct {
		name  string
		w     map[string]numerics.Tensor
		input numerics.Tensor
		want  string
	}{
		{"missing weight", map[string]numerics.Tensor{}, good, `lack tensor "conv1.weight"`},
		{"short weight", short, good, `"fc.bias": shape [10] needs 10 elements, have 9`},
		{"bad shape", zeroWeights(), numerics.NewF64([]int64{1, 28, 28}, make([]float64, 784)), "want FP32 or FP64 [N,1,28,28]"},
		{"int input", zeroWeights(), numerics.NewI64([]int64{1, 1, 28, 28}, make([]int64, 784)), "INT64"},
	}
	for _, tt := range tests {
		if _, _, err := SeedCNN(tt.w, tt.input); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// rnnWeights returns seed-rnn weights that are all zero.
func rnnWeights() map[string]numerics.Tensor {
	w := map[string]numerics.Tensor{}
	for name, shape := range map[string][]int64{
		"rnn.weight_ih_l0": {50, 10}, "rnn.weight_hh_l0": {50, 50}, "rnn.bias_ih_l0": {50}, "rnn.bias_hh_l0": {50},
		"rnn.weight_ih_l1": {50, 50}, "rnn.weight_hh_l1": {50, 50}, "rnn.bias_ih_l1": {50}, "rnn.bias_hh_l1": {50},
		"fc.weight": {2, 50}, "fc.bias": {2},
	} {
		n, _ := numerics.ShapeElements(shape)
		w[name] = numerics.NewF64(shape, make([]float64, n))
	}
	return w
}

// TestSeedRNNLayout pins the nn.RNN layouts and the recurrence with
// hand-made weights: layer 0 unit 3 reads feature 7, unit 5 reads unit 3 of
// the step before; layer 1 unit 2 reads layer 0 unit 5 and unit 0 has both
// biases (0.25 each) and reads itself; fc class 1 reads unit 2, class 0
// unit 0. Only step 0 of the input is set, so a reversed or shifted
// sequence, a transposed matrix or a missing bias changes the logits.
func TestSeedRNNLayout(t *testing.T) {
	w := rnnWeights()
	w["rnn.weight_ih_l0"].F64[3*10+7] = 1
	w["rnn.weight_hh_l0"].F64[5*50+3] = 1
	w["rnn.weight_ih_l1"].F64[2*50+5] = 1
	w["rnn.bias_ih_l1"].F64[0] = 0.25
	w["rnn.bias_hh_l1"].F64[0] = 0.25
	w["rnn.weight_hh_l1"].F64[0] = 1
	w["fc.weight"].F64[1*50+2] = 1
	w["fc.weight"].F64[0] = 1
	w["fc.bias"].F64[0] = -0.5
	x := make([]float64, 2*10)
	x[7] = 0.5 // step 0, feature 7
	logits, err := SeedRNN(w, numerics.NewF64([]int64{1, 2, 10}, x))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{-0.5 + math.Tanh(0.5+math.Tanh(0.5)), math.Tanh(math.Tanh(math.Tanh(0.5)))}
	if !slices.Equal(logits.Shape, []int64{1, 2}) || logits.F64[0] != want[0] || logits.F64[1] != want[1] {
		t.Fatalf("logits = %v %v, want [1 2] %v", logits.Shape, logits.F64, want)
	}
	// With T = 1 the recurrent weights are never used.
	logits, err = SeedRNN(w, numerics.NewF64([]int64{1, 1, 10}, x[:10]))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{-0.5 + math.Tanh(0.5), 0}; !slices.Equal(logits.F64, want) {
		t.Fatalf("T = 1: logits = %v, want %v", logits.F64, want)
	}
}

// TestSeedRNNBatchRows checks that each sequence of a batch is computed on
// its own (a batch of two equals the two runs alone) and that FP32 input
// is widened exactly.
func TestSeedRNNBatchRows(t *testing.T) {
	w := rnnWeights()
	for name, v := range w {
		for i := range v.F64 {
			v.F64[i] = math.Sin(float64(i*7+len(name))) * 0.3
		}
	}
	x := make([]float32, 2*3*10)
	for i := range x {
		x[i] = float32(math.Cos(float64(i))) / 2
	}
	both, err := SeedRNN(w, numerics.NewF32([]int64{2, 3, 10}, x))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		one, err := SeedRNN(w, numerics.NewF32([]int64{1, 3, 10}, x[i*30:(i+1)*30]))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one.F64, both.F64[i*2:i*2+2]) {
			t.Errorf("sequence %d: %v alone, %v in the batch", i, one.F64, both.F64[i*2:i*2+2])
		}
	}
	if both.F64[0] == both.F64[2] {
		t.Error("two different sequences gave the same logit")
	}
}

func TestSeedRNNErrors(t *testing.T) {
	good := numerics.NewF64([]int64{1, 4, 10}, make([]float64, 40))
	short := rnnWeights()
	short["rnn.bias_hh_l1"] = numerics.NewF64([]int64{50}, make([]float64, 49))
	transposed := rnnWeights()
	transposed["rnn.weight_ih_l0"] = numerics.NewF64([]int64{10, 50}, make([]float64, 500))
	tests := []struct {
		name  string
		w     map[string]numerics.Tensor
		input numerics.Tensor
		want  string
	}{
		{"missing weight", map[string]numerics.Tensor{}, good, `lack tensor "rnn.weight_ih_l0"`},
		{"short weight", short, good, `"rnn.bias_hh_l1": shape [50] needs 50 elements, have 49`},
		{"transposed weight", transposed, good, `"rnn.weight_ih_l0" has shape [10 50], want [50 10]`},
		{"rank", rnnWeights(), numerics.NewF64([]int64{4, 10}, make([]float64, 40)), "want FP32 or FP64 [N,T,10]"},
		{"no steps", rnnWeights(), numerics.NewF64([]int64{1, 0, 10}, nil), "T ≥ 1"},
		{"features", rnnWeights(), numerics.NewF64([]int64{1, 4, 5}, make([]float64, 20)), "[1 4 5]"},
		{"int input", rnnWeights(), numerics.NewI64([]int64{1, 4, 10}, make([]int64, 40)), "INT64"},
	}
	for _, tt := range tests {
		if _, err := SeedRNN(tt.w, tt.input); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
