// Package oip holds the wire types of the Open Inference Protocol v2 (REST)
// and the conversion between JSON tensors and numerics.Tensor. Both the
// reference server and the conformance client speak through it.
package oip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"

	"github.com/aiconform/aiconform/numerics"
)

// Datatypes lists every datatype the protocol defines.
var Datatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16"}

// ExtensionBinaryData is the server-metadata extension name of the binary
// tensor data extension.
const ExtensionBinaryData = "binary_tensor_data"

// HeaderInferenceContentLength is the header that carries the JSON length
// when binary tensor data follows the JSON body.
const HeaderInferenceContentLength = "Inference-Header-Content-Length"

// ModelPath is the REST path of a model, /v2/models/{m}[/versions/{v}],
// its segments escaped.
func ModelPath(model, version string) string {
	p := "/v2/models/" + url.PathEscape(model)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

// ServerMetadata is the body of GET /v2.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// TensorMetadata describes a model input or output; -1 marks a variable dimension.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the body of GET /v2/models/{m}[/versions/{v}].
type ModelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions,omitempty"`
	Platform string           `json:"platform"`
	Inputs   []TensorMetadata `json:"inputs"`
	Outputs  []TensorMetadata `json:"outputs"`
}

// Parameters is a protocol parameters object.
type Parameters map[string]any

// RequestInput is one input tensor of an inference request.
type RequestInput struct {
	Name       string     `json:"name"`
	Shape      []int64    `json:"shape"`
	Datatype   string     `json:"datatype"`
	Parameters Parameters `json:"parameters,omitempty"`
	// Data is the JSON tensor data; it is absent when the tensor travels
	// as binary data (parameter binary_data_size).
	Data json.RawMessage `json:"data,omitempty"`
}

// RequestOutput names an output the client wants.
type RequestOutput struct {
	Name       string     `json:"name"`
	Parameters Parameters `json:"parameters,omitempty"`
}

// InferenceRequest is the body of POST .../infer.
type InferenceRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters Parameters      `json:"parameters,omitempty"`
	Inputs     []RequestInput  `json:"inputs"`
	Outputs    []RequestOutput `json:"outputs,omitempty"`
}

// ResponseOutput is one output tensor of an inference response.
type ResponseOutput struct {
	Name       string     `json:"name"`
	Shape      []int64    `json:"shape"`
	Datatype   string     `json:"datatype"`
	Parameters Parameters `json:"parameters,omitempty"`
	// Data is the JSON tensor data; it is absent when the tensor travels
	// as binary data (parameter binary_data_size).
	Data json.RawMessage `json:"data,omitempty"`
}

// InferenceResponse is the body of a successful inference.
type InferenceResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id,omitempty"`
	Parameters   Parameters       `json:"parameters,omitempty"`
	Outputs      []ResponseOutput `json:"outputs"`
}

// ErrorResponse is the body of every protocol error.
type ErrorResponse struct {
	Error string `json:"error"`
}

// EncodeData renders a tensor's elements as a flat JSON array. Non-finite
// floats have no JSON form and are an error.
func EncodeData(t numerics.Tensor) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	n := t.Len()
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		switch t.DType {
		case numerics.FP32:
			v := float64(t.F32[i])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("element %d is %v, which JSON cannot carry", i, v)
			}
			b.Write(appendFloat(nil, v, 32))
		case numerics.FP64:
			v := t.F64[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("element %d is %v, which JSON cannot carry", i, v)
			}
			b.Write(appendFloat(nil, v, 64))
		case numerics.INT64:
			fmt.Fprintf(&b, "%d", t.I64[i])
		default:
			return nil, fmt.Errorf("datatype %q is not supported", t.DType)
		}
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// DecodeData parses JSON tensor data, flat or nested (row-major), into a
// tensor of the given datatype and shape. Nested data must match the shape
// exactly; flat data must hold exactly the shape's element count. Integer
// types reject fractional values; floats reject values beyond their range.
func DecodeData(datatype string, shape []int64, data json.RawMessage) (numerics.Tensor, error) {
	return decodeData(datatype, shape, data, false)
}

// DecodeDataNonFinite is DecodeData that also reads the strings proto3's
// JSON mapping writes for non-finite floats ("NaN", "Infinity",
// "-Infinity"), so that a client can tell a server that answered a NaN from
// one that answered garbage. Only floating datatypes take them.
func DecodeDataNonFinite(datatype string, shape []int64, data json.RawMessage) (numerics.Tensor, error) {
	return decodeData(datatype, shape, data, true)
}

// EncodeNestedData renders a tensor's elements as nested JSON arrays, one
// level per dimension (row-major), as the protocol allows beside flat data.
func EncodeNestedData(t numerics.Tensor) (json.RawMessage, error) {
	flat, err := EncodeData(t)
	if err != nil {
		return nil, err
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(flat, &elems); err != nil {
		return nil, err
	}
	if len(t.Shape) == 0 {
		return flat, nil
	}
	var b bytes.Buffer
	var nest func(dim int, off int) int
	nest = func(dim int, off int) int {
		b.WriteByte('[')
		for i := int64(0); i < t.Shape[dim]; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if dim == len(t.Shape)-1 {
				b.Write(elems[off])
				off++
				continue
			}
			off = nest(dim+1, off)
		}
		b.WriteByte(']')
		return off
	}
	nest(0, 0)
	return b.Bytes(), nil
}

// number reads one JSON element: a number, or with nonFinite a string that
// names a non-finite float.
func number(e any, nonFinite bool) (json.Number, bool) {
	switch v := e.(type) {
	case json.Number:
		return v, true
	case string:
		if !nonFinite {
			return "", false
		}
		switch v {
		case "NaN", "Infinity", "-Infinity":
			return json.Number(v), true
		}
	}
	return "", false
}

func decodeData(datatype string, shape []int64, data json.RawMessage, nonFinite bool) (numerics.Tensor, error) {
	dt := numerics.DType(datatype)
	if !slices.Contains(Datatypes, datatype) {
		return numerics.Tensor{}, fmt.Errorf("datatype %q is not a protocol datatype", datatype)
	}
	if dt != numerics.FP32 && dt != numerics.FP64 && dt != numerics.INT64 {
		return numerics.Tensor{}, fmt.Errorf("datatype %s is not supported by this model server (FP32, FP64, INT64)", datatype)
	}
	want, err := numerics.ShapeElements(shape)
	if err != nil {
		return numerics.Tensor{}, fmt.Errorf("shape: %w", err)
	}
	if len(data) == 0 {
		return numerics.Tensor{}, fmt.Errorf("data is missing")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return numerics.Tensor{}, fmt.Errorf("data is not JSON: %w", err)
	}
	top, ok := v.([]any)
	if !ok {
		return numerics.Tensor{}, fmt.Errorf("data must be an array")
	}
	nonFinite = nonFinite && dt.IsFloat()
	var flat []json.Number
	nested := len(top) > 0 && isArray(top[0])
	if nested {
		if err := flatten(top, shape, 0, &flat, nonFinite); err != nil {
			return numerics.Tensor{}, err
		}
	} else {
		flat = make([]json.Number, len(top))
		for i, e := range top {
			n, ok := number(e, nonFinite)
			if !ok {
				return numerics.Tensor{}, fmt.Errorf("data[%d] is %s, want a number", i, JSONKind(e))
			}
			flat[i] = n
		}
	}
	if len(flat) != want {
		return numerics.Tensor{}, fmt.Errorf("shape %v needs %d elements, data has %d", shape, want, len(flat))
	}
	t := numerics.Tensor{DType: dt, Shape: append([]int64(nil), shape...)}
	switch dt {
	case numerics.FP32:
		t.F32 = make([]float32, want)
		for i, n := range flat {
			f, err := n.Float64()
			f32 := float32(f) // rounds to nearest; values past the largest FP32 round to ±Inf
			if err != nil || (math.IsInf(float64(f32), 0) && !nonFinite) {
				return numerics.Tensor{}, fmt.Errorf("data[%d] = %s is not a finite FP32 value", i, n)
			}
			t.F32[i] = f32
		}
	case numerics.FP64:
		t.F64 = make([]float64, want)
		for i, n := range flat {
			f, err := n.Float64()
			if err != nil {
				return numerics.Tensor{}, fmt.Errorf("data[%d] = %s is not a finite FP64 value", i, n)
			}
			t.F64[i] = f
		}
	case numerics.INT64:
		t.I64 = make([]int64, want)
		for i, n := range flat {
			k, err := n.Int64()
			if err != nil {
				return numerics.Tensor{}, fmt.Errorf("data[%d] = %s is not an INT64 value", i, n)
			}
			t.I64[i] = k
		}
	}
	return t, nil
}

func isArray(v any) bool { _, ok := v.([]any); return ok }

// JSONKind names the kind of a decoded JSON value for messages: "null",
// "a boolean", "a string", "an array", "an object" or "a number".
func JSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}

func flatten(arr []any, shape []int64, depth int, out *[]json.Number, nonFinite bool) error {
	if depth >= len(shape) {
		return fmt.Errorf("nested data is deeper than shape %v", shape)
	}
	if int64(len(arr)) != shape[depth] {
		return fmt.Errorf("nested data has %d entries at depth %d, shape %v says %d", len(arr), depth, shape, shape[depth])
	}
	for i, e := range arr {
		if depth == len(shape)-1 {
			n, ok := number(e, nonFinite)
			if !ok {
				return fmt.Errorf("nested data at depth %d index %d is %s, want a number", depth, i, JSONKind(e))
			}
			*out = append(*out, n)
			continue
		}
		sub, ok := e.([]any)
		if !ok {
			return fmt.Errorf("nested data at depth %d index %d is %s, want an array", depth, i, JSONKind(e))
		}
		if err := flatten(sub, shape, depth+1, out, nonFinite); err != nil {
			return err
		}
	}
	return nil
}
