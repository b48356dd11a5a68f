package oip

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/aiconform/aiconform/internal/fuzzcheck"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/safetensors"
)

// goldenOutputs returns the output tensors of a few published golden
// cases, for seeds that decode: they are real model outputs.
func goldenOutputs(f *testing.F) map[string]numerics.Tensor {
	f.Helper()
	out := map[string]numerics.Tensor{}
	for _, c := range []string{"seed-rnn/fp32/case-000", "seed-rnn/fp64/case-001", "seed-cnn/fp32/case-000"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "goldens", "v1", filepath.FromSlash(c)+".safetensors"))
		if err != nil {
			f.Fatal(err)
		}
		file, err := safetensors.Decode(b)
		if err != nil {
			f.Fatalf("%s: %v", c, err)
		}
		for name, t := range file.Tensors {
			out[c+"/"+name] = t
		}
	}
	return out
}

// responseBody returns an inference response carrying tensors, each as
// JSON data (flat, or nested when nested) or, when binary, as binary data
// after the JSON object, and the Inference-Header-Content-Length value
// ("" when nothing is binary).
func responseBody(f *testing.F, tensors map[string]numerics.Tensor, binary, nested bool) ([]byte, string) {
	f.Helper()
	resp := InferenceResponse{ModelName: "m", ModelVersion: "fp32", ID: "seed"}
	var chunks [][]byte
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		t := tensors[name]
		o := ResponseOutput{Name: name, Shape: t.Shape, Datatype: string(t.DType)}
		var err error
		switch {
		case binary:
			var raw []byte
			raw, err = EncodeBinary(t)
			o.Parameters = Parameters{ParamBinaryDataSize: len(raw)}
			chunks = append(chunks, raw)
		case nested:
			o.Data, err = EncodeNestedData(t)
		default:
			o.Data, err = EncodeData(t)
		}
		if err != nil {
			f.Fatal(err)
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		f.Fatal(err)
	}
	if len(chunks) == 0 {
		return js, ""
	}
	return JoinBody(js, chunks...), strconv.Itoa(len(js))
}

// addResponseSeeds adds the response seeds: the spec's example, golden
// outputs in each form, and a few hand-written edge cases.
func addResponseSeeds(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "testdata", "examples", "valid", "infer-response.oip-infer-response.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, "")
	g := goldenOutputs(f)
	for _, form := range []struct{ binary, nested bool }{{false, false}, {false, true}, {true, false}} {
		body, hl := responseBody(f, g, form.binary, form.nested)
		f.Add(body, hl)
	}
	one := map[string]numerics.Tensor{
		"f32": numerics.NewF32([]int64{2, 2}, []float32{1, -0.5, 3e38, float32(math.SmallestNonzeroFloat32)}),
		"f64": numerics.NewF64([]int64{1, 3}, []float64{0.1, -0, math.MaxFloat64}),
		"i64": numerics.NewI64([]int64{3}, []int64{math.MinInt64, 0, math.MaxInt64}),
	}
	for _, binary := range []bool{false, true} {
		body, hl := responseBody(f, one, binary, false)
		f.Add(body, hl)
	}
	for _, s := range []struct{ body, hl string }{
		{`{"model_name":"m","outputs":[{"name":"y","shape":[0,3],"datatype":"FP32","data":[]}]}`, ""},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[],"datatype":"INT64","data":[7]}]}`, ""},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[1000000000000],"datatype":"FP32","data":[1]}]}`, ""},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"FP64","parameters":{"binary_data_size":16}}]}` + "\x00\x00\x00\x00\x00\x00\xf0\x7f\x00\x00\x00\x00\x00\x00\xf8\x7f", "112"},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[2147483647],"datatype":"FP64","parameters":{"binary_data_size":17179869176}}]}`, "120"},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":["NaN"]}]}`, ""},
	} {
		f.Add([]byte(s.body), s.hl)
	}
}

// FuzzDecodeResponse feeds a response body and its
// Inference-Header-Content-Length value through the client side of the
// protocol: SplitBody, the JSON object into InferenceResponse, then
// DecodeOutputs over the binary part with NewBinaryReader. A decoded
// response has one valid tensor per output, of the output's datatype and
// shape; its binary outputs re-encode to exactly the binary part and its
// JSON outputs re-encode to data that decodes to the same tensor. Memory
// stays bounded by the body's size.
func FuzzDecodeResponse(f *testing.F) {
	addResponseSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, headerLength string) {
		var (
			js, bin    []byte
			outs       map[string]numerics.Tensor
			resp       InferenceResponse
			split, err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(body)+len(headerLength)), "decoding the response", func() {
			js, bin, split = SplitBody(body, headerLength)
			if split != nil {
				return
			}
			if err = json.Unmarshal(js, &resp); err != nil {
				return
			}
			outs, err = DecodeOutputs(resp, bin)
		})
		if split != nil {
			if headerLength == "" {
				t.Fatalf("SplitBody without a header failed: %v", split)
			}
			return
		}
		if !bytes.Equal(append(slices.Clip(js), bin...), body) {
			t.Fatalf("SplitBody parts (%d + %d bytes) are not the body (%d bytes)", len(js), len(bin), len(body))
		}
		if err != nil {
			return
		}
		if len(outs) != len(resp.Outputs) {
			t.Fatalf("%d outputs decoded from %d", len(outs), len(resp.Outputs))
		}
		var rebuilt []byte
		for _, o := range resp.Outputs {
			x, ok := outs[o.Name]
			if !ok {
				t.Fatalf("output %q was not decoded", o.Name)
			}
			if msg := fuzzcheck.CheckTensor(x, o.Datatype, o.Shape); msg != "" {
				t.Fatalf("output %q: %s", o.Name, msg)
			}
			if _, isBinary, _ := BinaryDataSize(o.Parameters); isBinary {
				raw, err := EncodeBinary(x)
				if err != nil {
					t.Fatalf("output %q: EncodeBinary: %v", o.Name, err)
				}
				rebuilt = append(rebuilt, raw...)
				continue
			}
			checkJSONRoundTrip(t, x)
		}
		if !bytes.Equal(rebuilt, bin) && len(rebuilt)+len(bin) > 0 {
			t.Fatalf("the binary outputs re-encode to %d bytes that differ from the %d bytes of the binary part", len(rebuilt), len(bin))
		}
	})
}

// checkJSONRoundTrip checks that a tensor of finite values re-encodes to
// flat and to nested JSON data that decode to the same tensor, and that
// encoding the decoded tensor again gives the same bytes.
func checkJSONRoundTrip(t *testing.T, x numerics.Tensor) {
	t.Helper()
	flat, err := EncodeData(x)
	if err != nil {
		if hasNonFinite(x) {
			return
		}
		t.Fatalf("EncodeData of a decoded tensor: %v", err)
	}
	forms := map[string][]byte{"flat": flat}
	if nestedArrays(x.Shape) <= maxNestedArrays {
		nested, err := EncodeNestedData(x)
		if err != nil {
			t.Fatalf("EncodeNestedData of a decoded tensor: %v", err)
		}
		forms["nested"] = nested
	}
	for form, data := range forms {
		y, err := DecodeData(string(x.DType), x.Shape, data)
		if err != nil {
			t.Fatalf("DecodeData of the %s re-encoding %s: %v", form, data, err)
		}
		if msg := fuzzcheck.SameTensor(y, x); msg != "" {
			t.Fatalf("%s re-encoding %s decodes to another tensor: %s", form, data, msg)
		}
		again, err := EncodeData(y)
		if err != nil || !bytes.Equal(again, flat) {
			t.Fatalf("%s re-encoding is not stable: %s, then %s (%v)", form, flat, again, err)
		}
	}
}

// maxNestedArrays bounds the arrays of a nested re-encoding the fuzz
// targets make: a tensor without elements, of shape [N,0], decodes from
// flat data "[]" whatever N, but its nested form holds N arrays.
const maxNestedArrays = 1 << 16

// nestedArrays returns the number of arrays the nested form of a tensor
// of shape holds, saturating at maxNestedArrays+1.
func nestedArrays(shape []int64) int64 {
	total, level := int64(0), int64(1)
	for _, d := range shape {
		total += level
		if d > 0 && level > (maxNestedArrays+1)/d {
			return maxNestedArrays + 1
		}
		level *= d
		if total > maxNestedArrays {
			return maxNestedArrays + 1
		}
	}
	return total
}

func hasNonFinite(x numerics.Tensor) bool {
	for i := range x.Len() {
		if v := x.At(i); math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
	}
	return false
}

// parseShape reads a fuzzed shape written as a JSON array of integers.
func parseShape(s string) ([]int64, bool) {
	var shape []int64
	if err := json.Unmarshal([]byte(s), &shape); err != nil || shape == nil {
		return nil, false
	}
	return shape, true
}

// FuzzDecodeData feeds JSON tensor data, flat or nested, of any datatype
// and shape to DecodeData and DecodeDataNonFinite. A decoded tensor is
// valid, of the datatype and shape asked for; what DecodeData accepts
// DecodeDataNonFinite accepts alike; every accepted tensor survives
// EncodeBinary and DecodeBinary bit for bit, and a finite one survives
// EncodeData and EncodeNestedData then DecodeData. Memory stays bounded by
// the data's size, whatever the shape declares.
func FuzzDecodeData(f *testing.F) {
	for _, s := range []struct{ datatype, shape, data string }{
		{"FP32", "[2,2]", "[1,2,3,4.5]"},
		{"FP32", "[2,2]", "[[1,2],[3,4.5]]"},
		{"FP32", "[1,2,2]", "[[[1e-45,-0],[3.4028235e38,0.1]]]"},
		{"FP64", "[3]", "[0.1,-2.5e-300,1.7976931348623157e308]"},
		{"FP64", "[2,1]", `[["NaN"],["-Infinity"]]`},
		{"FP32", "[1]", `["Infinity"]`},
		{"INT64", "[2,3]", "[[1,2,3],[-9223372036854775808,9223372036854775807,0]]"},
		{"INT64", "[]", "[42]"},
		{"INT64", "[0]", "[]"},
		{"FP32", "[2,0]", "[[],[]]"},
		{"FP32", "[0,2]", "[]"},
		{"INT64", "[2]", "[1.5,2]"},
		{"FP32", "[1000000000000]", "[1]"},
		{"FP64", "[2147483647]", "[1]"},
		{"FP32", "[1]", "[1e39]"},
		{"BOOL", "[1]", "[true]"},
		{"BYTES", "[1]", `["a"]`},
		{"FP16", "[1]", "[1]"},
		{"fp32", "[1]", "[1]"},
	} {
		f.Add(s.datatype, s.shape, []byte(s.data))
	}
	for name, t := range goldenOutputs(f) {
		if t.Len() > 64 {
			continue // a large seed slows every mutation of it
		}
		shape, _ := json.Marshal(t.Shape)
		for _, enc := range []func(numerics.Tensor) (json.RawMessage, error){EncodeData, EncodeNestedData} {
			data, err := enc(t)
			if err != nil {
				f.Fatalf("%s: %v", name, err)
			}
			f.Add(string(t.DType), string(shape), []byte(data))
		}
	}
	f.Fuzz(func(t *testing.T, datatype, shapeJSON string, data []byte) {
		shape, ok := parseShape(shapeJSON)
		if !ok {
			return
		}
		var (
			x, y       numerics.Tensor
			errX, errY error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(data)+len(shapeJSON)), "DecodeData", func() {
			x, errX = DecodeData(datatype, shape, data)
			y, errY = DecodeDataNonFinite(datatype, shape, data)
		})
		if errX == nil {
			if msg := fuzzcheck.CheckTensor(x, datatype, shape); msg != "" {
				t.Fatalf("DecodeData: %s", msg)
			}
			if hasNonFinite(x) {
				t.Fatalf("DecodeData decoded a non-finite value from %s", data)
			}
			if errY != nil {
				t.Fatalf("DecodeData accepts %s, DecodeDataNonFinite does not: %v", data, errY)
			}
			if msg := fuzzcheck.SameTensor(y, x); msg != "" {
				t.Fatalf("DecodeDataNonFinite and DecodeData differ: %s", msg)
			}
			checkJSONRoundTrip(t, x)
		}
		if errY == nil {
			if msg := fuzzcheck.CheckTensor(y, datatype, shape); msg != "" {
				t.Fatalf("DecodeDataNonFinite: %s", msg)
			}
			checkBinaryRoundTrip(t, y)
		}
	})
}

// checkBinaryRoundTrip checks that a tensor survives EncodeBinary and
// DecodeBinary bit for bit, with the byte count BinarySize says.
func checkBinaryRoundTrip(t *testing.T, x numerics.Tensor) []byte {
	t.Helper()
	raw, err := EncodeBinary(x)
	if err != nil {
		t.Fatalf("EncodeBinary: %v", err)
	}
	if n, err := BinarySize(string(x.DType), x.Shape); err != nil || n != int64(len(raw)) {
		t.Fatalf("EncodeBinary wrote %d bytes, BinarySize says %d (%v)", len(raw), n, err)
	}
	z, err := DecodeBinary(string(x.DType), x.Shape, raw)
	if err != nil {
		t.Fatalf("DecodeBinary of EncodeBinary: %v", err)
	}
	if msg := fuzzcheck.SameTensor(z, x); msg != "" {
		t.Fatalf("EncodeBinary then DecodeBinary: %s", msg)
	}
	return raw
}

// FuzzDecodeBinary feeds raw bytes of any datatype and shape to
// DecodeBinary. A decoded tensor is valid, of the datatype and shape
// asked for; EncodeBinary gives back exactly the raw bytes; and when its
// values are finite it survives EncodeData and EncodeNestedData then
// DecodeData bit for bit (-0 included). Memory stays bounded by the raw
// bytes, whatever the shape declares.
func FuzzDecodeBinary(f *testing.F) {
	for _, s := range []struct {
		datatype, shape string
		raw             []byte
	}{
		{"FP32", "[2]", []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x80}},
		{"FP32", "[1,1]", []byte{0, 0, 0xc0, 0x7f}},
		{"FP64", "[1]", []byte{0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}},
		{"INT64", "[2,1]", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0}},
		{"INT64", "[]", []byte{7, 0, 0, 0, 0, 0, 0, 0}},
		{"FP32", "[0,5]", nil},
		{"FP64", "[2147483647]", []byte{1}},
		{"FP32", "[3]", []byte{1, 2, 3}},
		{"INT32", "[1]", []byte{1, 0, 0, 0}},
	} {
		f.Add(s.datatype, s.shape, s.raw)
	}
	for _, t := range goldenOutputs(f) {
		if t.Len() > 64 {
			continue
		}
		raw, err := EncodeBinary(t)
		if err != nil {
			f.Fatal(err)
		}
		shape, _ := json.Marshal(t.Shape)
		f.Add(string(t.DType), string(shape), raw)
	}
	f.Fuzz(func(t *testing.T, datatype, shapeJSON string, raw []byte) {
		shape, ok := parseShape(shapeJSON)
		if !ok {
			return
		}
		var (
			x   numerics.Tensor
			err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(raw)+len(shapeJSON)), "DecodeBinary", func() {
			x, err = DecodeBinary(datatype, shape, raw)
		})
		if err != nil {
			return
		}
		if msg := fuzzcheck.CheckTensor(x, datatype, shape); msg != "" {
			t.Fatalf("DecodeBinary: %s", msg)
		}
		if again := checkBinaryRoundTrip(t, x); !bytes.Equal(again, raw) {
			t.Fatalf("EncodeBinary gives %x, not the decoded bytes %x", again, raw)
		}
		checkJSONRoundTrip(t, x)
	})
}
