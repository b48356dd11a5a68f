package onnxexport

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
)

// tinyModel is the model of testdata/make_tiny.py, built with the message
// constructors of this package.
func tinyModel(t *testing.T) *onnxpb.ModelProto {
	t.Helper()
	init := func(name string, v numerics.Tensor) *onnxpb.TensorProto {
		tp, err := tensorProto(name, v)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	node := func(name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Input: in, Output: out, Name: proto.String(name), OpType: proto.String(op), Attribute: attrs}
	}
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(7),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		ProducerName:    proto.String("aiconform"),
		ProducerVersion: optString("test"),
		Domain:          proto.String("org.aiconform"),
		ModelVersion:    proto.Int64(1),
		DocString:       proto.String("a model"),
		MetadataProps:   metadataProps([]KeyValue{{"aiconform.model", "tiny"}, {"k", "v"}}),
		Graph: &onnxpb.GraphProto{
			Name:      proto.String("tiny"),
			DocString: proto.String("a graph"),
			Node: []*onnxpb.NodeProto{
				node("Gemm_0", "Gemm", []string{"x", "w", ""}, []string{"g"}, attrFloat("alpha", 0.5), attrInt("transB", 1)),
				node("Reshape_0", "Reshape", []string{"g", "shape"}, []string{"r"}),
				node("RNN_0", "RNN", []string{"r", "w"}, []string{"", "h"},
					attrStrings("activations", "Tanh"), attrInts("axes", -1, 0, 300), attrString("direction", "forward")),
				node("Identity_0", "Identity", []string{"h"}, []string{"y"}),
			},
			Initializer: []*onnxpb.TensorProto{
				init("w", numerics.NewF32([]int64{2, 3}, []float32{1.5, -2.25, 0, 1e-9, float32(math.Copysign(0, -1)), 3.0e38})),
				init("shape", numerics.NewI64([]int64{2}, []int64{-1, 2})),
				init("half", numerics.NewF64([]int64{}, []float64{0.5})),
			},
			Input: []*onnxpb.ValueInfoProto{
				valueInfo("x", onnxpb.TensorProto_FLOAT, sym("N"), fixed(3)),
				valueInfo("ids", onnxpb.TensorProto_INT64, sym("N")),
			},
			Output: []*onnxpb.ValueInfoProto{valueInfo("y", onnxpb.TensorProto_FLOAT, sym("N"), fixed(2))},
		},
	}
}

// TestMarshalMatchesONNXPython compares Marshal's bytes with those of the
// official onnx Python package for the same model (testdata/tiny.onnx,
// written by testdata/make_tiny.py), which checks the constructors here
// (which fields they set, and how) and the deterministic field order
// against an independent implementation, and decodes the Python bytes
// back into the same messages.
func TestMarshalMatchesONNXPython(t *testing.T) {
	want, err := os.ReadFile("testdata/tiny.onnx")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(tinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("Marshal differs from onnx's encoding at byte %d of %d (want %d bytes)\n got: %s\nwant: %s",
			i, len(got), len(want), hex.EncodeToString(got[i:min(i+32, len(got))]), hex.EncodeToString(want[i:min(i+32, len(want))]))
	}
	decoded, err := decodeModel(want)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tinyModel(t), decoded, protocmp.Transform()); diff != "" {
		t.Errorf("testdata/tiny.onnx decodes to other messages (-built +decoded):\n%s", diff)
	}
}

// TestTensorProtoRoundTrip encodes tensors as initializers and decodes
// their raw_data again, bit for bit.
func TestTensorProtoRoundTrip(t *testing.T) {
	nan := math.Float32frombits(0x7fc00001)
	tests := []struct {
		name string
		t    numerics.Tensor
		elem onnxpb.TensorProto_DataType
	}{
		{"FP32 matrix", numerics.NewF32([]int64{2, 3}, []float32{1.5, float32(math.Copysign(0, -1)), nan, float32(math.Inf(-1)), math.SmallestNonzeroFloat32, math.MaxFloat32}), onnxpb.TensorProto_FLOAT},
		{"FP32 scalar", numerics.NewF32([]int64{}, []float32{-1e9}), onnxpb.TensorProto_FLOAT},
		{"FP64 vector", numerics.NewF64([]int64{3}, []float64{math.Pi, math.Copysign(0, -1), math.MaxFloat64}), onnxpb.TensorProto_DOUBLE},
		{"INT64 vector", numerics.NewI64([]int64{4}, []int64{math.MinInt64, -1, 0, math.MaxInt64}), onnxpb.TensorProto_INT64},
		{"empty FP32", numerics.NewF32([]int64{0, 4}, []float32{}), onnxpb.TensorProto_FLOAT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := tensorProto("t", tc.t)
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(tp)
			if err != nil {
				t.Fatal(err)
			}
			decoded := &onnxpb.TensorProto{}
			if err := proto.Unmarshal(b, decoded); err != nil {
				t.Fatal(err)
			}
			if decoded.GetName() != "t" || onnxpb.TensorProto_DataType(decoded.GetDataType()) != tc.elem {
				t.Errorf("name %q, data_type %d; want t, %s", decoded.GetName(), decoded.GetDataType(), tc.elem)
			}
			got, err := tensorOf(decoded)
			if err != nil {
				t.Fatal(err)
			}
			if !sameTensor(got, tc.t) {
				t.Errorf("decoded %s %v %v, want %s %v %v", got.DType, got.Shape, got.Float64s(), tc.t.DType, tc.t.Shape, tc.t.Float64s())
			}
		})
	}
}

func TestTensorProtoRejectsBadTensors(t *testing.T) {
	tests := []struct {
		name string
		t    numerics.Tensor
	}{
		{"wrong element count", numerics.NewF32([]int64{2, 2}, []float32{1, 2, 3})},
		{"unsupported datatype", numerics.Tensor{DType: "BF16", Shape: []int64{1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tensorProto("bad", tc.t); err == nil {
				t.Fatal("tensorProto accepted a malformed tensor")
			}
		})
	}
}
