package numerics

import (
	"math"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	tol := Tolerance{Class: "t", RTol: 1e-3, ATol: 1e-6}
	tests := []struct {
		name       string
		got, want  Tensor
		ok         bool
		violations int
		worst      int
		problem    string
	}{
		{"equal", NewF32([]int64{2}, []float32{1, 2}), NewF32([]int64{2}, []float32{1, 2}), true, 0, 0, ""},
		{"within rtol", NewF64([]int64{2}, []float64{1.0005, 2}), NewF64([]int64{2}, []float64{1, 2}), true, 0, 0, ""},
		{"outside rtol", NewF64([]int64{3}, []float64{1, 2.01, 3.1}), NewF64([]int64{3}, []float64{1, 2, 3}), false, 2, 2, ""},
		{"atol near zero", NewF64([]int64{1}, []float64{5e-7}), NewF64([]int64{1}, []float64{0}), true, 0, 0, ""},
		{"beyond atol near zero", NewF64([]int64{2}, []float64{0, 2e-6}), NewF64([]int64{2}, []float64{0, 0}), false, 1, 1, ""},
		{"nan got", NewF64([]int64{2}, []float64{1, math.NaN()}), NewF64([]int64{2}, []float64{1, 1}), false, 1, 1, ""},
		{"nan both", NewF64([]int64{1}, []float64{math.NaN()}), NewF64([]int64{1}, []float64{math.NaN()}), false, 1, 0, ""},
		{"inf got", NewF64([]int64{2}, []float64{math.Inf(1), 1}), NewF64([]int64{2}, []float64{1, 1}), false, 1, 0, ""},
		{"shape mismatch", NewF64([]int64{1, 2}, []float64{1, 2}), NewF64([]int64{2, 1}, []float64{1, 2}), false, 0, -1, "shape [1 2], want [2 1]"},
		{"mixed dtypes", NewF32([]int64{1}, []float32{0.1}), NewF64([]int64{1}, []float64{0.1}), true, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Compare(tc.got, tc.want, tol)
			if d.OK() != tc.ok || d.Violations != tc.violations || d.Worst != tc.worst || d.Problem != tc.problem {
				t.Fatalf("Compare = ok %v, violations %d, worst %d, problem %q; want %v, %d, %d, %q",
					d.OK(), d.Violations, d.Worst, d.Problem, tc.ok, tc.violations, tc.worst, tc.problem)
			}
		})
	}
}

func TestCompareSummaryNamesWorstElement(t *testing.T) {
	tol := Tolerance{Class: "fp32", RTol: 1e-4, ATol: 1e-5}
	want := NewF32([]int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	got := want.Clone()
	got.F32[4] = 5.5 // index [1 1]
	got.F32[1] = 2.001
	d := Compare(got, want, tol)
	s := d.Summary(tol)
	for _, part := range []string{"2 of 6", "[1 1]", "flat 4", "got 5.5", "want 5", "abs error 0.5", "class fp32"} {
		if !strings.Contains(s, part) {
			t.Errorf("summary %q lacks %q", s, part)
		}
	}
}

func TestULPDistance(t *testing.T) {
	tests := []struct {
		a, b  float64
		dtype DType
		want  uint64
	}{
		{1, 1, FP32, 0},
		{1, float64(math.Nextafter32(1, 2)), FP32, 1},
		{1, math.Nextafter(math.Nextafter(1, 2), 2), FP64, 2},
		{float64(math.SmallestNonzeroFloat32), float64(-math.SmallestNonzeroFloat32), FP32, 2},
		{0, math.Copysign(0, -1), FP64, 0},
		{math.NaN(), 1, FP64, math.MaxUint64},
	}
	for _, tc := range tests {
		if got := ulpDistance(tc.a, tc.b, tc.dtype); got != tc.want {
			t.Errorf("ulpDistance(%v, %v, %s) = %d, want %d", tc.a, tc.b, tc.dtype, got, tc.want)
		}
	}
}

func TestValidateAndIndex(t *testing.T) {
	if err := NewF32([]int64{2, 3}, make([]float32, 5)).Validate(); err == nil {
		t.Error("Validate accepted 5 elements for shape [2 3]")
	}
	if err := NewI64([]int64{2, -1}, nil).Validate(); err == nil {
		t.Error("Validate accepted a negative dimension")
	}
	if err := (Tensor{DType: "FP8", Shape: []int64{}}).Validate(); err == nil {
		t.Error("Validate accepted an unknown datatype")
	}
	if got := IndexOf([]int64{2, 3, 4}, 23); got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("IndexOf(23) = %v, want [1 2 3]", got)
	}
}

func TestCompareMasked(t *testing.T) {
	tol := Tolerance{Class: "t", RTol: 1e-6, ATol: 1e-9}
	want := NewF32([]int64{2, 2}, []float32{1, 2, 3, 4})
	got := NewF32([]int64{2, 2}, []float32{1, 2, 99, math.Float32frombits(0x7fc00000)})
	if d := CompareMasked(got, want, tol, []bool{true, true, false, false}); !d.OK() || d.Elements != 2 {
		t.Errorf("masked-out differences counted: %+v", d)
	}
	if d := CompareMasked(got, want, tol, []bool{true, true, true, false}); d.OK() || d.Worst != 2 || d.Elements != 3 {
		t.Errorf("compared difference missed: %+v", d)
	}
	if d := CompareMasked(got, want, tol, []bool{true}); d.Problem == "" {
		t.Error("a mask of the wrong length was accepted")
	}
}
