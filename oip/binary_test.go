package oip

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/numerics"
)

func TestSplitBody(t *testing.T) {
	body := []byte(`{"a":1}` + "\x01\x02\x03")
	tests := []struct {
		name         string
		headerLength string
		header, bin  string
		err          string
	}{
		{"no header: all JSON", "", string(body), "", ""},
		{"split", "7", `{"a":1}`, "\x01\x02\x03", ""},
		{"whole body", "10", string(body), "", ""},
		{"zero", "0", "", string(body), ""},
		{"beyond the body", "11", "", "", "is 11, but the body has only 10 bytes"},
		{"negative", "-1", "", "", `"-1"`},
		{"plus sign", "+7", "", "", `"+7"`},
		{"spaces", " 7", "", "", `" 7"`},
		{"not a number", "seven", "", "", "Inference-Header-Content-Length"},
		{"overflows int64", "99999999999999999999", "", "", "99999999999999999999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, b, err := SplitBody(body, tt.headerLength)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("SplitBody error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(h) != tt.header || string(b) != tt.bin {
				t.Errorf("SplitBody = %q, %q; want %q, %q", h, b, tt.header, tt.bin)
			}
		})
	}
}

func TestBinarySize(t *testing.T) {
	tests := []struct {
		datatype string
		shape    []int64
		want     int64
		err      string
	}{
		{"FP32", []int64{2, 3}, 24, ""},
		{"FP64", []int64{2, 3}, 48, ""},
		{"INT64", []int64{5}, 40, ""},
		{"BOOL", []int64{3}, 3, ""},
		{"FP16", []int64{4}, 8, ""},
		{"UINT32", []int64{}, 4, ""},
		{"FP32", []int64{0, 4}, 0, ""},
		{"BYTES", []int64{1}, 0, "no fixed element size"},
		{"FLOAT", []int64{1}, 0, "not a protocol datatype"},
		{"FP32", []int64{-1, 4}, 0, "dimension 0 is -1"},
		{"FP32", []int64{2147483648, 1, 28, 28}, 0, "more than"},
	}
	for _, tt := range tests {
		got, err := BinarySize(tt.datatype, tt.shape)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("BinarySize(%s, %v) error = %v, want one containing %q", tt.datatype, tt.shape, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("BinarySize(%s, %v) = %d, %v; want %d", tt.datatype, tt.shape, got, err, tt.want)
		}
	}
}

func TestParameters(t *testing.T) {
	decode := func(s string) Parameters {
		var p Parameters
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sizes := []struct {
		params string
		size   int64
		ok     bool
		err    string
	}{
		{`{}`, 0, false, ""},
		{`{"binary_data_size":16}`, 16, true, ""},
		{`{"binary_data_size":0}`, 0, true, ""},
		{`{"binary_data_size":-4}`, 0, true, "the number -4"},
		{`{"binary_data_size":1.5}`, 0, true, "the number 1.5"},
		{`{"binary_data_size":"16"}`, 0, true, "a string"},
		{`{"binary_data_size":null}`, 0, true, "null"},
		{`{"binary_data_size":1e300}`, 0, true, "want a non-negative integer"},
	}
	for _, tt := range sizes {
		size, ok, err := BinaryDataSize(decode(tt.params))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !ok {
				t.Errorf("BinaryDataSize(%s) = %d, %v, %v; want an error containing %q", tt.params, size, ok, err, tt.err)
			}
			continue
		}
		if err != nil || size != tt.size || ok != tt.ok {
			t.Errorf("BinaryDataSize(%s) = %d, %v, %v; want %d, %v", tt.params, size, ok, err, tt.size, tt.ok)
		}
	}
	if n, ok, err := BinaryDataSize(Parameters{ParamBinaryDataSize: json.Number("24")}); n != 24 || !ok || err != nil {
		t.Errorf("BinaryDataSize(json.Number 24) = %d, %v, %v", n, ok, err)
	}
	bools := []struct {
		params         string
		value, present bool
		err            string
	}{
		{`{}`, false, false, ""},
		{`{"binary_data":true}`, true, true, ""},
		{`{"binary_data":false}`, false, true, ""},
		{`{"binary_data":1}`, false, true, "the number 1, want a boolean"},
		{`{"binary_data":"true"}`, false, true, "a string"},
	}
	for _, tt := range bools {
		v, present, err := BoolParameter(decode(tt.params), ParamBinaryData)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("BoolParameter(%s) error = %v, want one containing %q", tt.params, err, tt.err)
			}
			continue
		}
		if err != nil || v != tt.value || present != tt.present {
			t.Errorf("BoolParameter(%s) = %v, %v, %v; want %v, %v", tt.params, v, present, err, tt.value, tt.present)
		}
	}
}

func TestBinaryRoundTripIsBitExact(t *testing.T) {
	// NaN payloads, signed zeros, infinities and subnormals all survive.
	nan32 := math.Float32frombits(0x7fc00001)
	nan64 := math.Float64frombits(0x7ff8000000000123)
	tensors := []numerics.Tensor{
		numerics.NewF32([]int64{2, 3}, []float32{0.1, float32(math.Copysign(0, -1)), float32(math.Inf(-1)), nan32, math.SmallestNonzeroFloat32, math.MaxFloat32}),
		numerics.NewF64([]int64{4}, []float64{0.1, math.Inf(1), nan64, math.SmallestNonzeroFloat64}),
		numerics.NewI64([]int64{1, 3}, []int64{math.MinInt64, -1, math.MaxInt64}),
	}
	for _, in := range tensors {
		raw, err := EncodeBinary(in)
		if err != nil {
			t.Fatalf("EncodeBinary(%s): %v", in.DType, err)
		}
		if int64(len(raw)) != int64(in.Len()*in.DType.Size()) {
			t.Fatalf("%s: %d bytes, want %d", in.DType, len(raw), in.Len()*in.DType.Size())
		}
		out, err := DecodeBinary(string(in.DType), in.Shape, raw)
		if err != nil {
			t.Fatalf("DecodeBinary(%s): %v", in.DType, err)
		}
		again, _ := EncodeBinary(out)
		if !bytes.Equal(raw, again) {
			t.Errorf("%s: bytes differ after a round trip:\n%x\n%x", in.DType, raw, again)
		}
		if !cmp.Equal(in.Shape, out.Shape) || out.DType != in.DType {
			t.Errorf("%s: decoded %s %v", in.DType, out.DType, out.Shape)
		}
	}
	// Little-endian, row-major.
	raw, _ := EncodeBinary(numerics.NewF32([]int64{2}, []float32{1, -2}))
	if want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}; !bytes.Equal(raw, want) {
		t.Errorf("EncodeBinary([1,-2]) = %x, want %x", raw, want)
	}
	i, _ := EncodeBinary(numerics.NewI64([]int64{1}, []int64{258}))
	if want := []byte{2, 1, 0, 0, 0, 0, 0, 0}; !bytes.Equal(i, want) {
		t.Errorf("EncodeBinary(int64 258) = %x, want %x", i, want)
	}
}

func TestDecodeBinaryErrors(t *testing.T) {
	tests := []struct {
		name     string
		datatype string
		shape    []int64
		raw      []byte
		err      string
	}{
		{"one byte short", "FP32", []int64{2}, make([]byte, 7), "has 7 bytes, shape [2] of FP32 needs 8"},
		{"one byte over", "FP64", []int64{1}, make([]byte, 9), "has 9 bytes"},
		{"fp32 size for fp64", "FP64", []int64{2}, make([]byte, 8), "needs 16"},
		{"unsupported", "INT32", []int64{1}, make([]byte, 4), "not supported"},
		{"bytes", "BYTES", []int64{1}, make([]byte, 5), "not supported"},
		{"unknown", "F32", []int64{1}, make([]byte, 4), "not a protocol datatype"},
		{"huge shape, tiny data", "FP32", []int64{2147483648, 1, 28, 28}, make([]byte, 4), "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBinary(tt.datatype, tt.shape, tt.raw)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("DecodeBinary error = %v, want one containing %q", err, tt.err)
			}
		})
	}
	if _, err := EncodeBinary(numerics.Tensor{DType: numerics.FP32, Shape: []int64{2}, F32: []float32{1}}); err == nil {
		t.Error("EncodeBinary accepted a tensor whose data does not fill its shape")
	}
}

func TestBinaryReader(t *testing.T) {
	r := NewBinaryReader([]byte("abcdef"))
	if seg, err := r.Next(2); err != nil || string(seg) != "ab" {
		t.Fatalf("Next(2) = %q, %v", seg, err)
	}
	if seg, err := r.Next(0); err != nil || len(seg) != 0 {
		t.Fatalf("Next(0) = %q, %v", seg, err)
	}
	if _, err := r.Next(5); err == nil || !strings.Contains(err.Error(), "more than the 4 bytes left") || !strings.Contains(err.Error(), "offset 2") {
		t.Fatalf("Next(5) error = %v", err)
	}
	if r.Len() != 4 {
		t.Fatalf("a failed Next consumed bytes: Len = %d", r.Len())
	}
	if _, err := r.Next(-1); err == nil {
		t.Fatal("Next(-1) succeeded")
	}
	seg, _ := r.Next(4)
	if string(seg) != "cdef" || r.Len() != 0 {
		t.Fatalf("Next(4) = %q, Len %d", seg, r.Len())
	}
	// A segment cannot grow into the bytes after it.
	r = NewBinaryReader([]byte("xyz"))
	seg, _ = r.Next(1)
	if cap(seg) != 1 {
		t.Errorf("segment capacity %d, want 1", cap(seg))
	}
}

func TestDecodeOutputs(t *testing.T) {
	a := numerics.NewF32([]int64{1, 2}, []float32{1.5, -2})
	b := numerics.NewI64([]int64{2}, []int64{7, 8})
	rawA, _ := EncodeBinary(a)
	rawB, _ := EncodeBinary(b)
	jsonA, _ := EncodeData(a)
	bin := func(name string, t numerics.Tensor, size int) ResponseOutput {
		return ResponseOutput{Name: name, Shape: t.Shape, Datatype: string(t.DType), Parameters: Parameters{ParamBinaryDataSize: float64(size)}}
	}
	tests := []struct {
		name    string
		outputs []ResponseOutput
		bin     []byte
		err     string
	}{
		{"binary and binary", []ResponseOutput{bin("a", a, 8), bin("b", b, 16)}, JoinBody(rawA, rawB), ""},
		{"json and binary", []ResponseOutput{{Name: "a", Shape: a.Shape, Datatype: "FP32", Data: jsonA}, bin("b", b, 16)}, rawB, ""},
		{"short", []ResponseOutput{bin("a", a, 8), bin("b", b, 16)}, JoinBody(rawA, rawB[:15]), `output "b"`},
		{"leftover", []ResponseOutput{bin("a", a, 8)}, JoinBody(rawA, []byte{0}), "1 bytes of binary data"},
		{"size disagrees with shape", []ResponseOutput{bin("a", a, 4), bin("b", b, 20)}, JoinBody(rawA, rawB), `output "a": binary data has 4 bytes`},
		{"both data and binary", []ResponseOutput{{Name: "a", Shape: a.Shape, Datatype: "FP32", Data: jsonA, Parameters: Parameters{ParamBinaryDataSize: 8.0}}}, rawA, "both data"},
		{"duplicate", []ResponseOutput{bin("a", a, 8), bin("a", a, 8)}, JoinBody(rawA, rawA), "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOutputs(InferenceResponse{ModelName: "m", Outputs: tt.outputs}, tt.bin)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("DecodeOutputs error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]numerics.Tensor{"a": a, "b": b}, got); diff != "" {
				t.Errorf("DecodeOutputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDataOmittedWhenEmpty(t *testing.T) {
	b, err := json.Marshal(ResponseOutput{Name: "y", Shape: []int64{1}, Datatype: "FP32", Parameters: Parameters{ParamBinaryDataSize: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"data"`) {
		t.Errorf("binary output marshals a data member: %s", b)
	}
}
