package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
)

// decodeModel parses an exported file as a consumer would, into the
// messages of onnx.proto, and fails on a field onnx.proto does not know.
func decodeModel(b []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decoding the ModelProto: %w", err)
	}
	if len(m.ProtoReflect().GetUnknown()) != 0 {
		return nil, fmt.Errorf("the ModelProto has fields onnx.proto does not define")
	}
	return m, nil
}

// tensorOf returns the values of an initializer, which must hold FLOAT,
// DOUBLE or INT64 values in raw_data only, as a tensor.
func tensorOf(tp *onnxpb.TensorProto) (numerics.Tensor, error) {
	name := tp.GetName()
	if len(tp.GetFloatData())+len(tp.GetInt32Data())+len(tp.GetInt64Data())+len(tp.GetDoubleData())+
		len(tp.GetUint64Data())+len(tp.GetStringData())+len(tp.GetExternalData()) != 0 ||
		tp.DataLocation != nil || tp.Segment != nil {
		return numerics.Tensor{}, fmt.Errorf("initializer %q has values outside raw_data", name)
	}
	dims := tp.GetDims()
	if dims == nil {
		dims = []int64{}
	}
	n, err := numerics.ShapeElements(dims)
	if err != nil {
		return numerics.Tensor{}, fmt.Errorf("initializer %q: %w", name, err)
	}
	elem := onnxpb.TensorProto_DataType(tp.GetDataType())
	raw := tp.GetRawData()
	size := map[onnxpb.TensorProto_DataType]int{onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_INT64: 8}[elem]
	if size == 0 || tp.RawData == nil || len(raw) != n*size {
		return numerics.Tensor{}, fmt.Errorf("initializer %q: %s %v with %d bytes of raw_data", name, elem, dims, len(raw))
	}
	switch elem {
	case onnxpb.TensorProto_FLOAT:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return numerics.NewF32(dims, v), nil
	case onnxpb.TensorProto_DOUBLE:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return numerics.NewF64(dims, v), nil
	default:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return numerics.NewI64(dims, v), nil
	}
}

// describe returns a graph input or output as "NAME ELEM [DIMS]", e.g.
// "input FLOAT [N,1,28,28]", or an error when it is not a tensor whose
// every dimension is a value or a parameter.
func describe(v *onnxpb.ValueInfoProto) (string, error) {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.ElemType == nil || tt.Shape == nil {
		return "", fmt.Errorf("%s is not a tensor with an element type and a shape", v.GetName())
	}
	dims := make([]string, len(tt.GetShape().GetDim()))
	for i, d := range tt.GetShape().GetDim() {
		switch x := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			dims[i] = fmt.Sprint(x.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			dims[i] = x.DimParam
		default:
			return "", fmt.Errorf("%s: dimension %d has no value", v.GetName(), i)
		}
	}
	return fmt.Sprintf("%s %s [%s]", v.GetName(), onnxpb.TensorProto_DataType(tt.GetElemType()), strings.Join(dims, ",")), nil
}

// checkAttribute fails unless a is named and holds a value in exactly the
// field its type names, and in no other field.
func checkAttribute(a *onnxpb.AttributeProto) error {
	rest := proto.Clone(a).(*onnxpb.AttributeProto)
	rest.Name, rest.Type = nil, nil
	var has bool
	switch a.GetType() {
	case onnxpb.AttributeProto_FLOAT:
		has, rest.F = a.F != nil, nil
	case onnxpb.AttributeProto_INT:
		has, rest.I = a.I != nil, nil
	case onnxpb.AttributeProto_STRING:
		has, rest.S = a.S != nil, nil
	case onnxpb.AttributeProto_INTS:
		has, rest.Ints = len(a.Ints) > 0, nil
	case onnxpb.AttributeProto_STRINGS:
		has, rest.Strings = len(a.Strings) > 0, nil
	}
	if a.GetName() == "" || !has || proto.Size(rest) != 0 {
		return fmt.Errorf("attribute %q of type %s: value in its field %v, other fields set: %v", a.GetName(), a.GetType(), has, proto.Size(rest) != 0)
	}
	return nil
}
