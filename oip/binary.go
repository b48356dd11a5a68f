package oip

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/aiconform/aiconform/numerics"
)

// Names of the binary tensor data extension (KServe/Triton
// extension_binary_data): the parameters and the media type of a body in
// which raw tensor bytes follow the JSON object.
const (
	// ParamBinaryDataSize is the parameter of a request input or a response
	// output that says its data follows the JSON object, and how many
	// bytes it takes there.
	ParamBinaryDataSize = "binary_data_size"
	// ParamBinaryData is the boolean parameter of a requested output that
	// asks for it as binary data.
	ParamBinaryData = "binary_data"
	// ParamBinaryDataOutput is the boolean request parameter that asks for
	// every output as binary data, unless an output's own binary_data says
	// otherwise.
	ParamBinaryDataOutput = "binary_data_output"
	// ContentTypeBinary is the Content-Type of a body that holds binary
	// tensor data after its JSON object.
	ContentTypeBinary = "application/octet-stream"
)

// SplitBody splits a request or response body of the binary tensor data
// extension into its JSON object and the binary tensor data after it.
// headerLength is the raw value of the Inference-Header-Content-Length
// header: when it is empty the whole body is JSON and bin is empty;
// otherwise it must be a decimal byte count no larger than the body.
func SplitBody(body []byte, headerLength string) (header, bin []byte, err error) {
	if headerLength == "" {
		return body, nil, nil
	}
	n, err := parseByteCount(headerLength)
	if err != nil {
		return nil, nil, fmt.Errorf("header %s is %q, want the byte length of the JSON object", HeaderInferenceContentLength, headerLength)
	}
	if n > int64(len(body)) {
		return nil, nil, fmt.Errorf("header %s is %d, but the body has only %d bytes", HeaderInferenceContentLength, n, len(body))
	}
	return body[:n], body[n:], nil
}

// parseByteCount parses a non-negative decimal integer without sign or
// spaces.
func parseByteCount(s string) (int64, error) {
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal byte count", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// JoinBody returns the body of the binary tensor data extension: the JSON
// object header followed by each chunk in order. The caller sends
// len(header) in the Inference-Header-Content-Length header.
func JoinBody(header []byte, chunks ...[]byte) []byte {
	n := len(header)
	for _, c := range chunks {
		n += len(c)
	}
	body := make([]byte, 0, n)
	body = append(body, header...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	return body
}

// ElementSize returns the size in bytes of one element of datatype in
// binary tensor data. BYTES elements have no fixed size and are an error,
// as is a datatype the protocol does not define.
func ElementSize(datatype string) (int, error) {
	switch datatype {
	case "BOOL", "UINT8", "INT8":
		return 1, nil
	case "UINT16", "INT16", "FP16", "BF16":
		return 2, nil
	case "UINT32", "INT32", "FP32":
		return 4, nil
	case "UINT64", "INT64", "FP64":
		return 8, nil
	case "BYTES":
		return 0, fmt.Errorf("datatype BYTES has no fixed element size")
	}
	return 0, fmt.Errorf("datatype %q is not a protocol datatype", datatype)
}

// BinarySize returns the number of bytes the binary data of a tensor of
// datatype and shape takes: its element count times ElementSize. It fails
// for a negative dimension, a shape beyond numerics.ShapeElements' limit
// or a datatype without a fixed size.
func BinarySize(datatype string, shape []int64) (int64, error) {
	size, err := ElementSize(datatype)
	if err != nil {
		return 0, err
	}
	n, err := numerics.ShapeElements(shape)
	if err != nil {
		return 0, fmt.Errorf("shape: %w", err)
	}
	return int64(n) * int64(size), nil
}

// BinaryDataSize reads the binary_data_size parameter of p. ok is false
// when p has none; a value that is not a non-negative integer is an error.
func BinaryDataSize(p Parameters) (size int64, ok bool, err error) {
	v, ok := p[ParamBinaryDataSize]
	if !ok {
		return 0, false, nil
	}
	bad := fmt.Errorf("parameter %s is %s, want a non-negative integer byte count", ParamBinaryDataSize, describeValue(v))
	switch x := v.(type) {
	case float64:
		if x < 0 || x != math.Trunc(x) || x > 1<<53 {
			return 0, true, bad
		}
		return int64(x), true, nil
	case json.Number:
		n, err := parseByteCount(x.String())
		if err != nil {
			return 0, true, bad
		}
		return n, true, nil
	case int:
		if x < 0 {
			return 0, true, bad
		}
		return int64(x), true, nil
	case int64:
		if x < 0 {
			return 0, true, bad
		}
		return x, true, nil
	}
	return 0, true, bad
}

// BoolParameter reads the boolean parameter name of p (binary_data,
// binary_data_output). present is false when p has none; a value that is
// not a JSON boolean is an error.
func BoolParameter(p Parameters, name string) (value, present bool, err error) {
	v, present := p[name]
	if !present {
		return false, false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, true, fmt.Errorf("parameter %s is %s, want a boolean", name, describeValue(v))
	}
	return b, true, nil
}

// describeValue names a decoded JSON value for an error message: its kind,
// and the value itself when it is a short scalar.
func describeValue(v any) string {
	switch x := v.(type) {
	case float64:
		return "the number " + strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return "the number " + x.String()
	case int:
		return "the number " + strconv.Itoa(x)
	case int64:
		return "the number " + strconv.FormatInt(x, 10)
	case bool:
		return "the boolean " + strconv.FormatBool(x)
	}
	return JSONKind(v)
}

// DecodeBinary decodes raw little-endian row-major bytes into a tensor of
// datatype (FP32, FP64 or INT64) and shape. raw must hold exactly the
// bytes the shape needs. Values are taken as they are: non-finite floats
// are decoded, and judging them is the caller's business.
func DecodeBinary(datatype string, shape []int64, raw []byte) (numerics.Tensor, error) {
	dt := numerics.DType(datatype)
	if !slices.Contains(Datatypes, datatype) {
		return numerics.Tensor{}, fmt.Errorf("datatype %q is not a protocol datatype", datatype)
	}
	if dt != numerics.FP32 && dt != numerics.FP64 && dt != numerics.INT64 {
		return numerics.Tensor{}, fmt.Errorf("datatype %s is not supported by this model server (FP32, FP64, INT64)", datatype)
	}
	want, err := BinarySize(datatype, shape)
	if err != nil {
		return numerics.Tensor{}, err
	}
	if int64(len(raw)) != want {
		return numerics.Tensor{}, fmt.Errorf("binary data has %d bytes, shape %v of %s needs %d", len(raw), shape, datatype, want)
	}
	t := numerics.Tensor{DType: dt, Shape: append([]int64(nil), shape...)}
	switch dt {
	case numerics.FP32:
		t.F32 = make([]float32, len(raw)/4)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case numerics.FP64:
		t.F64 = make([]float64, len(raw)/8)
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case numerics.INT64:
		t.I64 = make([]int64, len(raw)/8)
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	return t, nil
}

// EncodeBinary returns the elements of t as raw little-endian row-major
// bytes, bit for bit (non-finite floats included). t must be valid.
func EncodeBinary(t numerics.Tensor) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, t.Len()*t.DType.Size())
	switch t.DType {
	case numerics.FP32:
		for _, v := range t.F32 {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	case numerics.FP64:
		for _, v := range t.F64 {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		}
	case numerics.INT64:
		for _, v := range t.I64 {
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
	}
	return out, nil
}

// BinaryReader hands out consecutive segments of the binary tensor data
// after a body's JSON object, one per binary tensor in the order of the
// JSON.
type BinaryReader struct {
	rest []byte
	read int64
}

// NewBinaryReader returns a reader over bin, the bytes after the JSON
// object.
func NewBinaryReader(bin []byte) *BinaryReader { return &BinaryReader{rest: bin} }

// Next returns the next n bytes. It fails, consuming nothing, when n is
// negative or fewer than n bytes remain.
func (r *BinaryReader) Next(n int64) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("binary data size %d is negative", n)
	}
	if n > int64(len(r.rest)) {
		return nil, fmt.Errorf("binary data size %d is more than the %d bytes left after the JSON object (byte offset %d of the binary part)", n, len(r.rest), r.read)
	}
	seg := r.rest[:n:n]
	r.rest = r.rest[n:]
	r.read += n
	return seg, nil
}

// Len returns the number of bytes not yet handed out.
func (r *BinaryReader) Len() int { return len(r.rest) }

// DecodeOutputs decodes every output of an inference response into a
// tensor keyed by output name: JSON data with DecodeData, and binary data
// (an output with binary_data_size) from bin, the bytes after the JSON
// object, in the order of the outputs. Every byte of bin must belong to an
// output. It is the client side of the extension.
func DecodeOutputs(resp InferenceResponse, bin []byte) (map[string]numerics.Tensor, error) {
	r := NewBinaryReader(bin)
	out := make(map[string]numerics.Tensor, len(resp.Outputs))
	for i, o := range resp.Outputs {
		if _, dup := out[o.Name]; dup {
			return nil, fmt.Errorf("output %q (/outputs/%d) is given more than once", o.Name, i)
		}
		size, binaryData, err := BinaryDataSize(o.Parameters)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		var t numerics.Tensor
		if binaryData {
			if len(o.Data) != 0 {
				return nil, fmt.Errorf("output %q: has both data and parameter %s", o.Name, ParamBinaryDataSize)
			}
			seg, err := r.Next(size)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
			t, err = DecodeBinary(o.Datatype, o.Shape, seg)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
		} else {
			t, err = DecodeData(o.Datatype, o.Shape, o.Data)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
		}
		out[o.Name] = t
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%d bytes of binary data after the JSON object belong to no output", r.Len())
	}
	return out, nil
}
