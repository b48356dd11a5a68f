package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
)

// Marshal returns the protobuf encoding of m. The encoding is
// deterministic (fields in field-number order, no map iteration), so the
// bytes are a function of m.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: encoding the ModelProto: %w", err)
	}
	return b, nil
}

// optString returns s for an optional proto2 string field, or nil (the
// field left out) when s is empty.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// metadataProps returns kvs as metadata_props, in order.
func metadataProps(kvs []KeyValue) []*onnxpb.StringStringEntryProto {
	out := make([]*onnxpb.StringStringEntryProto, len(kvs))
	for i, kv := range kvs {
		out[i] = &onnxpb.StringStringEntryProto{Key: optString(kv.Key), Value: optString(kv.Value)}
	}
	return out
}

// attrInt returns an INT attribute.
func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// attrInts returns an INTS attribute.
func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// attrFloat returns a FLOAT attribute.
func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// attrString returns a STRING attribute.
func attrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// attrStrings returns a STRINGS attribute.
func attrStrings(name string, v ...string) *onnxpb.AttributeProto {
	s := make([][]byte, len(v))
	for i, x := range v {
		s[i] = []byte(x)
	}
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRINGS.Enum(), Strings: s}
}

// sym and fixed return a symbolic and a fixed dimension of a graph input
// or output.
func sym(name string) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: name}}
}

func fixed(v int64) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
}

// valueInfo returns a graph input or output: a tensor of an element type
// and shape.
func valueInfo(name string, elem onnxpb.TensorProto_DataType, shape ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(elem)),
			Shape:    &onnxpb.TensorShapeProto{Dim: shape},
		}}},
	}
}

// tensorProto returns t, which must be FP32, FP64 or INT64, as a
// TensorProto named name with its values in raw_data (little-endian).
func tensorProto(name string, t numerics.Tensor) (*onnxpb.TensorProto, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("onnxexport: initializer %q: %w", name, err)
	}
	var elem onnxpb.TensorProto_DataType
	var raw []byte
	switch t.DType {
	case numerics.FP32:
		elem = onnxpb.TensorProto_FLOAT
		raw = make([]byte, 0, 4*len(t.F32))
		for _, v := range t.F32 {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	case numerics.FP64:
		elem = onnxpb.TensorProto_DOUBLE
		raw = make([]byte, 0, 8*len(t.F64))
		for _, v := range t.F64 {
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(v))
		}
	case numerics.INT64:
		elem = onnxpb.TensorProto_INT64
		raw = make([]byte, 0, 8*len(t.I64))
		for _, v := range t.I64 {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	default:
		return nil, fmt.Errorf("onnxexport: initializer %q has datatype %q, want FP32, FP64 or INT64", name, t.DType)
	}
	return &onnxpb.TensorProto{
		Dims:     slices.Clone(t.Shape),
		DataType: proto.Int32(int32(elem)),
		Name:     proto.String(name),
		RawData:  raw,
	}, nil
}
