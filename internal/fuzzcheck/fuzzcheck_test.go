package fuzzcheck

import (
	"fmt"
	"math"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

var sink []byte

func TestBounded(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		limit uint64
		fail  bool
	}{
		{"within the limit", 1 << 20, Limit(0), false},
		{"a large allocation past the limit", 256 << 20, Limit(16), true},
		{"what the input's size allows", 8 << 20, Limit(64 << 10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Bounded(r, tt.limit, "allocating", func() { sink = make([]byte, tt.size) })
			sink = nil
			if (r.failed != "") != tt.fail {
				t.Errorf("Bounded failed with %q, want a failure: %v", r.failed, tt.fail)
			}
		})
	}
}

func TestSameTensor(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		a, b numerics.Tensor
		same bool
	}{
		{"equal", numerics.NewF32([]int64{2}, []float32{1, nan}), numerics.NewF32([]int64{2}, []float32{1, nan}), true},
		{"nil and empty shape", numerics.NewI64(nil, []int64{1}), numerics.NewI64([]int64{}, []int64{1}), true},
		{"-0 is not 0", numerics.NewF64([]int64{1}, []float64{math.Copysign(0, -1)}), numerics.NewF64([]int64{1}, []float64{0}), false},
		{"datatype", numerics.NewF64([]int64{1}, []float64{1}), numerics.NewI64([]int64{1}, []int64{1}), false},
		{"shape", numerics.NewI64([]int64{2, 1}, []int64{1, 2}), numerics.NewI64([]int64{1, 2}, []int64{1, 2}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := SameTensor(tt.a, tt.b); (msg == "") != tt.same {
				t.Errorf("SameTensor = %q, want same: %v", msg, tt.same)
			}
		})
	}
}

func TestCheckTensor(t *testing.T) {
	tests := []struct {
		name     string
		x        numerics.Tensor
		datatype string
		shape    []int64
		ok       bool
	}{
		{"valid", numerics.NewF32([]int64{2, 2}, make([]float32, 4)), "FP32", []int64{2, 2}, true},
		{"scalar", numerics.NewI64(nil, []int64{7}), "INT64", []int64{}, true},
		{"other datatype", numerics.NewF32([]int64{1}, make([]float32, 1)), "FP64", []int64{1}, false},
		{"other shape", numerics.NewF32([]int64{1, 2}, make([]float32, 2)), "FP32", []int64{2, 1}, false},
		{"element count", numerics.NewF32([]int64{3}, make([]float32, 2)), "FP32", []int64{3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := CheckTensor(tt.x, tt.datatype, tt.shape); (msg == "") != tt.ok {
				t.Errorf("CheckTensor = %q, want ok: %v", msg, tt.ok)
			}
		})
	}
}
