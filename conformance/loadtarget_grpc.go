package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// checkGRPC validates a serialised ModelInferResponse (typed or raw
// contents) from its wire form, without decoding its tensor values, and
// keeps the outputs of the queries of the accuracy sample, decoded from
// the response's REST form.
func (t *InferenceTarget) checkGRPC(q load.Query, msg []byte) error {
	r, err := readInferResponse(msg)
	if err != nil {
		return fmt.Errorf("the response is not a ModelInferResponse: %w", err)
	}
	if err := t.validateGRPC(r); err != nil {
		return err
	}
	if t.keep == nil || q.Warmup || !t.keep.wants(q.Seq) {
		return nil
	}
	var resp pb.ModelInferResponse
	if err := proto.Unmarshal(msg, &resp); err != nil {
		return fmt.Errorf("the response is not a ModelInferResponse: %w", err)
	}
	body, header, err := grpcbind.ResponseToREST(&resp)
	if err != nil {
		return fmt.Errorf("the response has no REST form: %w", err)
	}
	js, bin, err := oip.SplitBody(body, header.Get(oip.HeaderInferenceContentLength))
	if err != nil {
		return fmt.Errorf("the response's REST form: %w", err)
	}
	var rest oip.InferenceResponse
	if err := json.Unmarshal(js, &rest); err != nil {
		return fmt.Errorf("the response's REST form: %w", err)
	}
	return t.keepOutputs(q, rest, bin)
}

// validateGRPC checks the structure of a ModelInferResponse: the model's
// name and each output of the contract with its datatype, its shape and
// as many elements in the typed contents of its datatype, or bytes in its
// raw contents, as the shape holds.
func (t *InferenceTarget) validateGRPC(r wireResponse) error {
	if r.modelName != t.l.Model.Name {
		return fmt.Errorf("model_name is %q, want %q", r.modelName, t.l.Model.Name)
	}
	if len(r.raw) > 0 && len(r.raw) != len(r.outputs) {
		return fmt.Errorf("raw_output_contents holds %d entries for %d outputs, want one per output", len(r.raw), len(r.outputs))
	}
	seen := 0
	for i, o := range r.outputs {
		want, ok := t.shapes[o.name]
		if !ok {
			continue
		}
		seen++
		if err := want.judge(o.name, o.datatype, o.shape); err != nil {
			return err
		}
		if len(r.raw) > 0 {
			if o.hasContents {
				return fmt.Errorf("output %q has contents while the response uses raw_output_contents", o.name)
			}
			if int64(r.raw[i]) != want.bytes {
				return fmt.Errorf("output %q holds %d bytes of raw contents, want %d (shape %v of %s)", o.name, r.raw[i], want.bytes, want.shape, want.datatype)
			}
			continue
		}
		name, err := grpcbind.ContentsField(o.datatype)
		if err != nil {
			return fmt.Errorf("output %q: %w", o.name, err)
		}
		field := contentsDescriptor.ByName(name).Number()
		for num, n := range o.counts {
			if n > 0 && protowire.Number(num) != field {
				return fmt.Errorf("output %q: contents hold %d elements in %s, which datatype %s does not use (it takes %s)", o.name, n, contentsDescriptor.ByNumber(protowire.Number(num)).Name(), o.datatype, name)
			}
		}
		if n := o.count(field); n != want.count {
			return fmt.Errorf("output %q holds %d values in its %s, want %d (shape %v)", o.name, n, name, want.count, want.shape)
		}
	}
	if seen != len(t.shapes) {
		return fmt.Errorf("the response carries %d of the contract's %d outputs", seen, len(t.shapes))
	}
	return nil
}

// The fields of the messages readInferResponse reads, from the generated
// descriptors.
var (
	inferResponseDescriptor = (&pb.ModelInferResponse{}).ProtoReflect().Descriptor().Fields()
	outputTensorDescriptor  = (&pb.ModelInferResponse_InferOutputTensor{}).ProtoReflect().Descriptor().Fields()
	contentsDescriptor      = (&pb.InferTensorContents{}).ProtoReflect().Descriptor().Fields()
)

// wireResponse is what the structural check reads of a serialised
// ModelInferResponse: its strings and shapes, and how many elements or
// bytes its tensors hold, without their values.
type wireResponse struct {
	modelName string
	outputs   []wireOutput
	// raw is the length of each entry of raw_output_contents.
	raw []int
}

// wireOutput is what the structural check reads of one output tensor.
type wireOutput struct {
	name, datatype string
	shape          []int64
	// hasContents says the tensor has contents; counts are the elements
	// each field of them holds, by field number.
	hasContents bool
	counts      []int
}

// count is the number of elements field num of the contents holds.
func (o wireOutput) count(num protowire.Number) int {
	if int(num) < len(o.counts) {
		return o.counts[num]
	}
	return 0
}

// errWire is wrapped by the errors of readInferResponse.
var errWire = errors.New("malformed protobuf")

// readInferResponse reads a serialised ModelInferResponse as proto.Unmarshal
// reads it (the last of a repeated singular field wins, a message field
// given twice is merged, a known field of the wrong wire type is an
// unknown one, unknown fields are skipped), but counts the elements of
// tensor contents and the bytes of raw contents instead of copying them.
// Parameters are skipped.
func readInferResponse(b []byte) (wireResponse, error) {
	var r wireResponse
	err := walkMessage(b, inferResponseDescriptor, func(fd protoreflect.FieldDescriptor, v []byte) error {
		switch fd.Name() {
		case "model_name":
			s, err := wireString(fd, v)
			r.modelName = s
			return err
		case "outputs":
			o, err := readOutputTensor(v)
			r.outputs = append(r.outputs, o)
			return err
		case "raw_output_contents":
			r.raw = append(r.raw, len(v))
		}
		return nil
	}, nil)
	return r, err
}

// readOutputTensor reads a serialised InferOutputTensor.
func readOutputTensor(b []byte) (wireOutput, error) {
	var o wireOutput
	err := walkMessage(b, outputTensorDescriptor, func(fd protoreflect.FieldDescriptor, v []byte) (err error) {
		switch fd.Name() {
		case "name":
			o.name, err = wireString(fd, v)
		case "datatype":
			o.datatype, err = wireString(fd, v)
		case "shape":
			// Packed; proto3 writes repeated scalars so.
			for len(v) > 0 {
				d, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return fmt.Errorf("%w: shape: %w", errWire, protowire.ParseError(n))
				}
				o.shape = append(o.shape, int64(d))
				v = v[n:]
			}
		case "contents":
			o.hasContents = true
			if o.counts == nil {
				o.counts = make([]int, maxFieldNumber(contentsDescriptor)+1)
			}
			return countContents(v, o.counts)
		}
		return err
	}, func(fd protoreflect.FieldDescriptor, v uint64) {
		if fd.Name() == "shape" { // an element written unpacked
			o.shape = append(o.shape, int64(v))
		}
	})
	return o, err
}

// countContents adds the elements of each field of serialised typed
// contents to counts, by field number, packed or not.
func countContents(b []byte, counts []int) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: contents: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		fd := contentsDescriptor.ByNumber(num)
		elem := protowire.Type(-1) // the wire type of one element
		if fd != nil {
			elem = scalarWireType(fd.Kind())
		}
		if typ == protowire.BytesType && fd != nil && elem != protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: contents: %w", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			k, err := packedCount(elem, v)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", errWire, fd.Name(), err)
			}
			counts[num] += k
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: contents: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if fd != nil && typ == elem {
			counts[num]++
		}
	}
	return nil
}

// packedCount is the number of elements of wire type elem a packed field
// holds.
func packedCount(elem protowire.Type, v []byte) (int, error) {
	switch elem {
	case protowire.Fixed32Type:
		if len(v)%4 != 0 {
			return 0, fmt.Errorf("packed fixed32 field of %d bytes", len(v))
		}
		return len(v) / 4, nil
	case protowire.Fixed64Type:
		if len(v)%8 != 0 {
			return 0, fmt.Errorf("packed fixed64 field of %d bytes", len(v))
		}
		return len(v) / 8, nil
	}
	// Varints: each ends with the one byte of it below 0x80; the longest
	// is 10 bytes.
	k, run := 0, 0
	for _, c := range v {
		run++
		if c < 0x80 {
			if run == 10 && c > 1 {
				return 0, errors.New("packed varint overflows 64 bits")
			}
			k, run = k+1, 0
		} else if run == 10 {
			return 0, errors.New("packed varint longer than 10 bytes")
		}
	}
	if run > 0 {
		return 0, errors.New("packed varint field ends inside a varint")
	}
	return k, nil
}

// scalarWireType is the wire type of one element of a field of kind k.
func scalarWireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return protowire.Fixed32Type
	case protoreflect.DoubleKind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// walkMessage calls bytesField with each field of fields that b carries
// in the bytes wire type (strings, bytes, messages and packed scalars)
// and varintField, when not nil, with each it carries as a varint; it
// skips the rest, as proto.Unmarshal keeps unknown fields and a known
// field of a wire type not its own among them.
func walkMessage(b []byte, fields protoreflect.FieldDescriptors, bytesField func(protoreflect.FieldDescriptor, []byte) error, varintField func(protoreflect.FieldDescriptor, uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		fd := fields.ByNumber(num)
		switch {
		case fd != nil && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: %s: %w", errWire, fd.Name(), protowire.ParseError(n))
			}
			b = b[n:]
			if err := bytesField(fd, v); err != nil {
				return err
			}
			continue
		case fd != nil && typ == protowire.VarintType && varintField != nil && scalarWireType(fd.Kind()) == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: %s: %w", errWire, fd.Name(), protowire.ParseError(n))
			}
			b = b[n:]
			varintField(fd, v)
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// wireString reads string field fd, which proto3 requires to be UTF-8.
func wireString(fd protoreflect.FieldDescriptor, v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8", errWire, fd.Name())
	}
	return string(v), nil
}

// maxFieldNumber is the highest field number of fields.
func maxFieldNumber(fields protoreflect.FieldDescriptors) protowire.Number {
	var m protowire.Number
	for i := range fields.Len() {
		m = max(m, fields.Get(i).Number())
	}
	return m
}
