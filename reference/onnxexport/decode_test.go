package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/aiconform/aiconform/numerics"
)

// decodeModel parses the bytes Marshal writes back into a Model, so tests
// can inspect an exported file as a consumer would. It accepts exactly the
// subset of ModelProto that Marshal writes and fails on any other field.
func decodeModel(b []byte) (*Model, error) {
	m := &Model{}
	err := eachField(b, "ModelProto", func(num protowire.Number, v field) error {
		switch num {
		case fieldModelIRVersion:
			m.IRVersion = int64(v.u)
		case fieldModelProducerName:
			m.ProducerName = string(v.b)
		case fieldModelProducerVersion:
			m.ProducerVersion = string(v.b)
		case fieldModelDomain:
			m.Domain = string(v.b)
		case fieldModelModelVersion:
			m.ModelVersion = int64(v.u)
		case fieldModelDocString:
			m.DocString = string(v.b)
		case fieldModelGraph:
			g, err := decodeGraph(v.b)
			if err != nil {
				return err
			}
			m.Graph = g
		case fieldModelOpsetImport:
			return eachField(v.b, "OperatorSetIdProto", func(num protowire.Number, v field) error {
				switch num {
				case fieldOpsetDomain:
					if len(v.b) != 0 {
						return fmt.Errorf("opset domain %q, want the default domain", v.b)
					}
				case fieldOpsetVersion:
					m.OpsetVersion = int64(v.u)
				default:
					return errField
				}
				return nil
			})
		case fieldModelMetadataProps:
			var kv KeyValue
			err := eachField(v.b, "StringStringEntryProto", func(num protowire.Number, v field) error {
				switch num {
				case fieldEntryKey:
					kv.Key = string(v.b)
				case fieldEntryValue:
					kv.Value = string(v.b)
				default:
					return errField
				}
				return nil
			})
			m.Metadata = append(m.Metadata, kv)
			return err
		default:
			return errField
		}
		return nil
	})
	return m, err
}

func decodeGraph(b []byte) (Graph, error) {
	var g Graph
	err := eachField(b, "GraphProto", func(num protowire.Number, v field) error {
		switch num {
		case fieldGraphNode:
			n, err := decodeNode(v.b)
			g.Nodes = append(g.Nodes, n)
			return err
		case fieldGraphName:
			g.Name = string(v.b)
		case fieldGraphInitializer:
			in, err := decodeTensor(v.b)
			g.Initializers = append(g.Initializers, in)
			return err
		case fieldGraphDocString:
			g.DocString = string(v.b)
		case fieldGraphInput, fieldGraphOutput:
			vi, err := decodeValueInfo(v.b)
			if num == fieldGraphInput {
				g.Inputs = append(g.Inputs, vi)
			} else {
				g.Outputs = append(g.Outputs, vi)
			}
			return err
		default:
			return errField
		}
		return nil
	})
	return g, err
}

func decodeNode(b []byte) (Node, error) {
	var n Node
	err := eachField(b, "NodeProto", func(num protowire.Number, v field) error {
		switch num {
		case fieldNodeInput:
			n.Inputs = append(n.Inputs, string(v.b))
		case fieldNodeOutput:
			n.Outputs = append(n.Outputs, string(v.b))
		case fieldNodeName:
			n.Name = string(v.b)
		case fieldNodeOpType:
			n.OpType = string(v.b)
		case fieldNodeAttribute:
			var a Attr
			err := eachField(v.b, "AttributeProto", func(num protowire.Number, v field) error {
				switch num {
				case fieldAttrName:
					a.Name = string(v.b)
				case fieldAttrF:
					a.F = math.Float32frombits(uint32(v.u))
				case fieldAttrI:
					a.I = int64(v.u)
				case fieldAttrS:
					a.S = string(v.b)
				case fieldAttrInts:
					a.Ints = append(a.Ints, int64(v.u))
				case fieldAttrStrings:
					a.Strings = append(a.Strings, string(v.b))
				case fieldAttrType:
					a.Type = int32(v.u)
				default:
					return errField
				}
				return nil
			})
			n.Attrs = append(n.Attrs, a)
			return err
		default:
			return errField
		}
		return nil
	})
	return n, err
}

func decodeTensor(b []byte) (Initializer, error) {
	var (
		in   Initializer
		dims = []int64{}
		elem ElemType
		raw  []byte
	)
	err := eachField(b, "TensorProto", func(num protowire.Number, v field) error {
		switch num {
		case fieldTensorDims:
			dims = append(dims, int64(v.u))
		case fieldTensorDataType:
			elem = ElemType(v.u)
		case fieldTensorName:
			in.Name = string(v.b)
		case fieldTensorRawData:
			raw = v.b
		default:
			return errField
		}
		return nil
	})
	if err != nil {
		return in, err
	}
	n, err := numerics.ShapeElements(dims)
	if err != nil {
		return in, fmt.Errorf("initializer %q: %w", in.Name, err)
	}
	size := map[ElemType]int{ElemFloat: 4, ElemDouble: 8, ElemInt64: 8}[elem]
	if size == 0 || len(raw) != n*size {
		return in, fmt.Errorf("initializer %q: %s %v with %d bytes of raw_data", in.Name, elem, dims, len(raw))
	}
	switch elem {
	case ElemFloat:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		in.Tensor = numerics.NewF32(dims, v)
	case ElemDouble:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		in.Tensor = numerics.NewF64(dims, v)
	case ElemInt64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		in.Tensor = numerics.NewI64(dims, v)
	}
	return in, nil
}

func decodeValueInfo(b []byte) (ValueInfo, error) {
	var vi ValueInfo
	err := eachField(b, "ValueInfoProto", func(num protowire.Number, v field) error {
		switch num {
		case fieldValueInfoName:
			vi.Name = string(v.b)
		case fieldValueInfoType:
			return eachField(v.b, "TypeProto", func(num protowire.Number, v field) error {
				if num != fieldTypeTensorType {
					return errField
				}
				return eachField(v.b, "TypeProto.Tensor", func(num protowire.Number, v field) error {
					switch num {
					case fieldTypeTensorElemType:
						vi.Elem = ElemType(v.u)
					case fieldTypeTensorShape:
						return eachField(v.b, "TensorShapeProto", func(num protowire.Number, v field) error {
							if num != fieldShapeDim {
								return errField
							}
							var d Dim
							err := eachField(v.b, "Dimension", func(num protowire.Number, v field) error {
								switch num {
								case fieldShapeDimValue:
									d.Value = int64(v.u)
								case fieldShapeDimParam:
									d.Param = string(v.b)
								default:
									return errField
								}
								return nil
							})
							vi.Shape = append(vi.Shape, d)
							return err
						})
					default:
						return errField
					}
					return nil
				})
			})
		default:
			return errField
		}
		return nil
	})
	return vi, err
}

// field is one decoded field value: u for varint and fixed fields, b for
// length-delimited ones.
type field struct {
	u uint64
	b []byte
}

var errField = fmt.Errorf("unexpected field")

// eachField calls f for every field of message b.
func eachField(b []byte, msg string, f func(protowire.Number, field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%s: %w", msg, protowire.ParseError(n))
		}
		b = b[n:]
		var v field
		switch typ {
		case protowire.VarintType:
			v.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v.u = uint64(x)
		case protowire.BytesType:
			v.b, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("%s: field %d has wire type %d", msg, num, typ)
		}
		if n < 0 {
			return fmt.Errorf("%s: field %d: %w", msg, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, v); err != nil {
			return fmt.Errorf("%s: field %d: %w", msg, num, err)
		}
	}
	return nil
}
