package onnxexport

import (
	"bytes"
	"encoding/hex"
	"os"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

// tinyModel is the model of testdata/make_tiny.py, built with this package.
func tinyModel() *Model {
	return &Model{
		IRVersion:       7,
		OpsetVersion:    13,
		ProducerName:    "aiconform",
		ProducerVersion: "test",
		Domain:          "org.aiconform",
		ModelVersion:    1,
		DocString:       "a model",
		Metadata:        []KeyValue{{"aiconform.model", "tiny"}, {"k", "v"}},
		Graph: Graph{
			Name:      "tiny",
			DocString: "a graph",
			Nodes: []Node{
				{Name: "Gemm_0", OpType: "Gemm", Inputs: []string{"x", "w", ""}, Outputs: []string{"g"},
					Attrs: []Attr{AttrFloat("alpha", 0.5), AttrInt("transB", 1)}},
				{Name: "Reshape_0", OpType: "Reshape", Inputs: []string{"g", "shape"}, Outputs: []string{"r"}},
				{Name: "RNN_0", OpType: "RNN", Inputs: []string{"r", "w"}, Outputs: []string{"", "h"},
					Attrs: []Attr{AttrStrings("activations", "Tanh"), AttrInts("axes", -1, 0, 300), AttrString("direction", "forward")}},
				{Name: "Identity_0", OpType: "Identity", Inputs: []string{"h"}, Outputs: []string{"y"}},
			},
			Initializers: []Initializer{
				{"w", numerics.NewF32([]int64{2, 3}, []float32{1.5, -2.25, 0, 1e-9, float32(negZero()), 3.0e38})},
				{"shape", numerics.NewI64([]int64{2}, []int64{-1, 2})},
				{"half", numerics.NewF64([]int64{}, []float64{0.5})},
			},
			Inputs: []ValueInfo{
				{Name: "x", Elem: ElemFloat, Shape: []Dim{sym("N"), fixed(3)}},
				{Name: "ids", Elem: ElemInt64, Shape: []Dim{sym("N")}},
			},
			Outputs: []ValueInfo{{Name: "y", Elem: ElemFloat, Shape: []Dim{sym("N"), fixed(2)}}},
		},
	}
}

func negZero() float64 {
	z := 0.0
	return -z
}

// TestMarshalMatchesONNXPython compares the encoder's bytes with those of
// the official onnx Python package for the same model (testdata/tiny.onnx,
// written by testdata/make_tiny.py), which checks every field number and
// wire type the encoder uses against an independent implementation.
func TestMarshalMatchesONNXPython(t *testing.T) {
	want, err := os.ReadFile("testdata/tiny.onnx")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tinyModel().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("Marshal differs from onnx's encoding at byte %d of %d (want %d bytes)\n got: %s\nwant: %s",
			i, len(got), len(want), hex.EncodeToString(got[i:min(i+32, len(got))]), hex.EncodeToString(want[i:min(i+32, len(want))]))
	}
}

func TestMarshalRejectsBadInitializers(t *testing.T) {
	tests := []struct {
		name string
		t    numerics.Tensor
	}{
		{"wrong element count", numerics.NewF32([]int64{2, 2}, []float32{1, 2, 3})},
		{"unsupported datatype", numerics.Tensor{DType: "BF16", Shape: []int64{1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModel()
			m.Graph.Initializers = append(m.Graph.Initializers, Initializer{"bad", tc.t})
			if _, err := m.Marshal(); err == nil {
				t.Fatal("Marshal accepted a malformed initializer")
			}
		})
	}
}
