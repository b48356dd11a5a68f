package oip

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/google/go-cmp/cmp"
)

func TestDecodeData(t *testing.T) {
	tests := []struct {
		name     string
		datatype string
		shape    []int64
		data     string
		want     numerics.Tensor
		err      string
	}{
		{"flat fp32", "FP32", []int64{2, 2}, `[1, 2.5, -3, 4e-3]`, numerics.NewF32([]int64{2, 2}, []float32{1, 2.5, -3, 4e-3}), ""},
		{"nested fp64", "FP64", []int64{2, 2}, `[[1, 2], [3, 4]]`, numerics.NewF64([]int64{2, 2}, []float64{1, 2, 3, 4}), ""},
		{"int64", "INT64", []int64{3}, `[0, 99, -1]`, numerics.NewI64([]int64{3}, []int64{0, 99, -1}), ""},
		{"flat count mismatch", "FP32", []int64{2, 2}, `[1, 2, 3]`, numerics.Tensor{}, "needs 4 elements, data has 3"},
		{"nested ragged", "FP32", []int64{2, 2}, `[[1, 2], [3]]`, numerics.Tensor{}, "has 1 entries at depth 1"},
		{"nested too deep", "FP32", []int64{2}, `[[1], [2]]`, numerics.Tensor{}, "is an array, want a number"},
		{"string element", "FP32", []int64{2}, `[1, "x"]`, numerics.Tensor{}, "data[1] is a string"},
		{"not array", "FP32", []int64{1}, `{"a": 1}`, numerics.Tensor{}, "must be an array"},
		{"fraction in int", "INT64", []int64{1}, `[1.5]`, numerics.Tensor{}, "not an INT64"},
		{"fp32 overflow", "FP32", []int64{1}, `[1e39]`, numerics.Tensor{}, "not a finite FP32"},
		{"unknown datatype", "FLOAT32", []int64{1}, `[1]`, numerics.Tensor{}, "not a protocol datatype"},
		{"unsupported datatype", "BOOL", []int64{1}, `[true]`, numerics.Tensor{}, "not supported"},
		{"negative shape", "FP32", []int64{-1}, `[1]`, numerics.Tensor{}, "shape"},
		{"missing data", "FP32", []int64{1}, ``, numerics.Tensor{}, "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeData(tc.datatype, tc.shape, json.RawMessage(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("DecodeData error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecodeData (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeDataRoundTripsExactly(t *testing.T) {
	in := numerics.NewF32([]int64{4}, []float32{0.1, float32(math.Pi), -1e-30, math.MaxFloat32})
	raw, err := EncodeData(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeData("FP32", in.Shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("FP32 round trip via %s (-want +got):\n%s", raw, diff)
	}
	in64 := numerics.NewF64([]int64{2}, []float64{0.1, math.Nextafter(1, 2)})
	raw, _ = EncodeData(in64)
	out, _ = DecodeData("FP64", in64.Shape, raw)
	if diff := cmp.Diff(in64, out); diff != "" {
		t.Errorf("FP64 round trip via %s (-want +got):\n%s", raw, diff)
	}
}

func TestEncodeDataRejectsNonFinite(t *testing.T) {
	if _, err := EncodeData(numerics.NewF64([]int64{1}, []float64{math.NaN()})); err == nil {
		t.Error("EncodeData accepted NaN")
	}
}
