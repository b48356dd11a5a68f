package plainref

import (
	"math"
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
