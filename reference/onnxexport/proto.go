package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/aiconform/aiconform/numerics"
)

// Field numbers of onnx.proto (package onnx, the proto2 file whose proto3
// twin is onnx.proto3; both use the same numbers), as shipped with ONNX 1.12.
// Only the fields this package writes are named.
const (
	// ModelProto.
	fieldModelIRVersion       protowire.Number = 1
	fieldModelProducerName    protowire.Number = 2
	fieldModelProducerVersion protowire.Number = 3
	fieldModelDomain          protowire.Number = 4
	fieldModelModelVersion    protowire.Number = 5
	fieldModelDocString       protowire.Number = 6
	fieldModelGraph           protowire.Number = 7
	fieldModelOpsetImport     protowire.Number = 8
	fieldModelMetadataProps   protowire.Number = 14

	// OperatorSetIdProto.
	fieldOpsetDomain  protowire.Number = 1
	fieldOpsetVersion protowire.Number = 2

	// StringStringEntryProto.
	fieldEntryKey   protowire.Number = 1
	fieldEntryValue protowire.Number = 2

	// GraphProto.
	fieldGraphNode        protowire.Number = 1
	fieldGraphName        protowire.Number = 2
	fieldGraphInitializer protowire.Number = 5
	fieldGraphDocString   protowire.Number = 10
	fieldGraphInput       protowire.Number = 11
	fieldGraphOutput      protowire.Number = 12

	// NodeProto.
	fieldNodeInput     protowire.Number = 1
	fieldNodeOutput    protowire.Number = 2
	fieldNodeName      protowire.Number = 3
	fieldNodeOpType    protowire.Number = 4
	fieldNodeAttribute protowire.Number = 5
	fieldNodeDomain    protowire.Number = 7

	// AttributeProto.
	fieldAttrName    protowire.Number = 1
	fieldAttrF       protowire.Number = 2
	fieldAttrI       protowire.Number = 3
	fieldAttrS       protowire.Number = 4
	fieldAttrInts    protowire.Number = 8
	fieldAttrStrings protowire.Number = 9
	fieldAttrType    protowire.Number = 20

	// TensorProto.
	fieldTensorDims     protowire.Number = 1
	fieldTensorDataType protowire.Number = 2
	fieldTensorName     protowire.Number = 8
	fieldTensorRawData  protowire.Number = 9

	// ValueInfoProto.
	fieldValueInfoName protowire.Number = 1
	fieldValueInfoType protowire.Number = 2

	// TypeProto and TypeProto.Tensor.
	fieldTypeTensorType     protowire.Number = 1
	fieldTypeTensorElemType protowire.Number = 1
	fieldTypeTensorShape    protowire.Number = 2
	fieldShapeDim           protowire.Number = 1
	fieldShapeDimValue      protowire.Number = 1
	fieldShapeDimParam      protowire.Number = 2
)

// AttributeProto.AttributeType values.
const (
	attrTypeFloat   = 1
	attrTypeInt     = 2
	attrTypeString  = 3
	attrTypeInts    = 7
	attrTypeStrings = 8
)

// ElemType is an ONNX TensorProto.DataType.
type ElemType int32

// The TensorProto.DataType values this package writes.
const (
	ElemFloat  ElemType = 1
	ElemInt64  ElemType = 7
	ElemDouble ElemType = 11
)

// String returns the DataType's name in onnx.proto.
func (e ElemType) String() string {
	switch e {
	case ElemFloat:
		return "FLOAT"
	case ElemInt64:
		return "INT64"
	case ElemDouble:
		return "DOUBLE"
	}
	return fmt.Sprintf("ElemType(%d)", int32(e))
}

// Model is the subset of ONNX's ModelProto this package writes.
type Model struct {
	IRVersion       int64
	OpsetVersion    int64 // of the default domain ""
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Metadata        []KeyValue // metadata_props, in order
	Graph           Graph
}

// KeyValue is a StringStringEntryProto.
type KeyValue struct{ Key, Value string }

// Graph is the subset of ONNX's GraphProto this package writes.
type Graph struct {
	Name         string
	DocString    string
	Nodes        []Node
	Initializers []Initializer
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is an ONNX NodeProto in the default domain.
type Node struct {
	Name    string
	OpType  string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Attr is an ONNX AttributeProto of type INT, INTS, FLOAT, STRING or
// STRINGS; exactly one of the value fields is meaningful, the one its Type
// names. Build them with AttrInt, AttrInts, AttrFloat, AttrString and
// AttrStrings.
type Attr struct {
	Name    string
	Type    int32
	I       int64
	Ints    []int64
	F       float32
	S       string
	Strings []string
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) Attr { return Attr{Name: name, Type: attrTypeInt, I: v} }

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) Attr { return Attr{Name: name, Type: attrTypeInts, Ints: v} }

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) Attr { return Attr{Name: name, Type: attrTypeFloat, F: v} }

// AttrString returns a STRING attribute.
func AttrString(name, v string) Attr { return Attr{Name: name, Type: attrTypeString, S: v} }

// AttrStrings returns a STRINGS attribute.
func AttrStrings(name string, v ...string) Attr {
	return Attr{Name: name, Type: attrTypeStrings, Strings: v}
}

// Initializer is a named constant tensor of the graph (TensorProto with
// raw_data). Tensor is FP32, FP64 or INT64.
type Initializer struct {
	Name   string
	Tensor numerics.Tensor
}

// Dim is one dimension of a graph input or output: a fixed size, or a
// symbolic name when Param is not empty.
type Dim struct {
	Value int64
	Param string
}

// ValueInfo is a graph input or output: a tensor of an element type and shape.
type ValueInfo struct {
	Name  string
	Elem  ElemType
	Shape []Dim
}

// Marshal returns the protobuf encoding of m as an ONNX ModelProto. Fields
// are written in field-number order and maps never iterated, so the bytes
// are a deterministic function of m.
func (m *Model) Marshal() ([]byte, error) {
	var b []byte
	b = appendVarintField(b, fieldModelIRVersion, uint64(m.IRVersion))
	b = appendStringField(b, fieldModelProducerName, m.ProducerName)
	b = appendStringField(b, fieldModelProducerVersion, m.ProducerVersion)
	b = appendStringField(b, fieldModelDomain, m.Domain)
	b = appendVarintField(b, fieldModelModelVersion, uint64(m.ModelVersion))
	b = appendStringField(b, fieldModelDocString, m.DocString)
	g, err := m.Graph.marshal()
	if err != nil {
		return nil, err
	}
	b = appendBytesField(b, fieldModelGraph, g)
	var opset []byte
	opset = appendStringField(opset, fieldOpsetDomain, "")
	opset = appendVarintField(opset, fieldOpsetVersion, uint64(m.OpsetVersion))
	b = appendBytesField(b, fieldModelOpsetImport, opset)
	for _, kv := range m.Metadata {
		var e []byte
		e = appendStringField(e, fieldEntryKey, kv.Key)
		e = appendStringField(e, fieldEntryValue, kv.Value)
		b = appendBytesField(b, fieldModelMetadataProps, e)
	}
	return b, nil
}

func (g *Graph) marshal() ([]byte, error) {
	var b []byte
	for _, n := range g.Nodes {
		b = appendBytesField(b, fieldGraphNode, n.marshal())
	}
	b = appendStringField(b, fieldGraphName, g.Name)
	for _, in := range g.Initializers {
		t, err := marshalTensor(in.Name, in.Tensor)
		if err != nil {
			return nil, err
		}
		b = appendBytesField(b, fieldGraphInitializer, t)
	}
	b = appendStringField(b, fieldGraphDocString, g.DocString)
	for _, v := range g.Inputs {
		b = appendBytesField(b, fieldGraphInput, v.marshal())
	}
	for _, v := range g.Outputs {
		b = appendBytesField(b, fieldGraphOutput, v.marshal())
	}
	return b, nil
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, in := range n.Inputs {
		// Repeated strings are written even when empty: "" marks an
		// omitted optional input.
		b = protowire.AppendTag(b, fieldNodeInput, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	for _, out := range n.Outputs {
		b = protowire.AppendTag(b, fieldNodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, out)
	}
	b = appendStringField(b, fieldNodeName, n.Name)
	b = appendStringField(b, fieldNodeOpType, n.OpType)
	for _, a := range n.Attrs {
		b = appendBytesField(b, fieldNodeAttribute, a.marshal())
	}
	// The default domain "" is left implicit (fieldNodeDomain not written).
	return b
}

func (a *Attr) marshal() []byte {
	var b []byte
	b = appendStringField(b, fieldAttrName, a.Name)
	switch a.Type {
	case attrTypeFloat:
		b = protowire.AppendTag(b, fieldAttrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case attrTypeInt:
		b = protowire.AppendTag(b, fieldAttrI, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case attrTypeString:
		b = protowire.AppendTag(b, fieldAttrS, protowire.BytesType)
		b = protowire.AppendString(b, a.S)
	case attrTypeInts:
		// onnx.proto is proto2 and declares ints without packed=true:
		// one field per element.
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, fieldAttrInts, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	case attrTypeStrings:
		for _, v := range a.Strings {
			b = protowire.AppendTag(b, fieldAttrStrings, protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
	}
	b = protowire.AppendTag(b, fieldAttrType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	return b
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.Shape {
		var dim []byte
		if d.Param != "" {
			dim = appendStringField(dim, fieldShapeDimParam, d.Param)
		} else {
			dim = protowire.AppendTag(dim, fieldShapeDimValue, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.Value))
		}
		shape = protowire.AppendTag(shape, fieldShapeDim, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, fieldTypeTensorElemType, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.Elem))
	tt = protowire.AppendTag(tt, fieldTypeTensorShape, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, fieldTypeTensorType, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	var b []byte
	b = appendStringField(b, fieldValueInfoName, v.Name)
	b = appendBytesField(b, fieldValueInfoType, typ)
	return b
}

// marshalTensor encodes t as a TensorProto with raw_data (little-endian).
func marshalTensor(name string, t numerics.Tensor) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("onnxexport: initializer %q: %w", name, err)
	}
	var elem ElemType
	var raw []byte
	switch t.DType {
	case numerics.FP32:
		elem = ElemFloat
		raw = make([]byte, 0, 4*len(t.F32))
		for _, v := range t.F32 {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	case numerics.FP64:
		elem = ElemDouble
		raw = make([]byte, 0, 8*len(t.F64))
		for _, v := range t.F64 {
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(v))
		}
	case numerics.INT64:
		elem = ElemInt64
		raw = make([]byte, 0, 8*len(t.I64))
		for _, v := range t.I64 {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	default:
		return nil, fmt.Errorf("onnxexport: initializer %q has datatype %q, want FP32, FP64 or INT64", name, t.DType)
	}
	var b []byte
	for _, d := range t.Shape {
		b = protowire.AppendTag(b, fieldTensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, fieldTensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(elem))
	b = appendStringField(b, fieldTensorName, name)
	b = protowire.AppendTag(b, fieldTensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, raw)
	return b, nil
}

// appendVarintField appends a varint field unless v is zero (proto2
// optional fields equal to their default are left out).
func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendStringField appends a string field unless s is empty.
func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendBytesField appends an embedded message (or bytes) field, even an
// empty one: an empty message still marks the field present.
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}
