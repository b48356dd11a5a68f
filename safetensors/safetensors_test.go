package safetensors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/google/go-cmp/cmp"
)

func sample() map[string]numerics.Tensor {
	return map[string]numerics.Tensor{
		"b.weight": numerics.NewF32([]int64{2, 2}, []float32{1, -2.5, 3e-8, 4}),
		"a.bias":   numerics.NewF64([]int64{3}, []float64{0.1, 0.2, -0.3}),
		"ids":      numerics.NewI64([]int64{1, 2}, []int64{-7, 99}),
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := Encode(sample(), map[string]string{"seed": "x"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), f.Tensors); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if f.Metadata["seed"] != "x" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	if got := f.Names(); !cmp.Equal(got, []string{"a.bias", "b.weight", "ids"}) {
		t.Errorf("Names = %v", got)
	}
}

func TestEncodeIsDeterministicAndAligned(t *testing.T) {
	a, _ := Encode(sample(), nil)
	b, _ := Encode(sample(), nil)
	if !bytes.Equal(a, b) {
		t.Fatal("two encodings of the same tensors differ")
	}
	if n := binary.LittleEndian.Uint64(a); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode(map[string]numerics.Tensor{"x": numerics.NewF32([]int64{2}, []float32{1, 2})}, nil)
	header := func(h string, data int) []byte {
		out := make([]byte, 8)
		binary.LittleEndian.PutUint64(out, uint64(len(h)))
		return append(append(out, h...), make([]byte, data)...)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte{1, 2}, "shorter than"},
		{"header too long", good[:12], "exceeds"},
		{"not json", header("nope", 0), "not a JSON object"},
		{"bad dtype", header(`{"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`, 2), "unsupported safetensors dtype"},
		{"size mismatch", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), "want 8"},
		{"out of bounds", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "outside"},
		{"overlap", header(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlap"},
		{"unknown field", header(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, 4), "bad header entry"},
		{"null header", header(`null`, 0), "header is null"},
		{"data after the header's object", header(`{}{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), "after its JSON object"},
		{"first error in name order", header(`{"b":{"dtype":"F16"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, 8), `tensor "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDecodeEmptyTensorAtAnotherOffset: an empty tensor at the offset
// where another begins overlaps nothing, whatever order the header's
// entries are visited in.
func TestDecodeEmptyTensorAtAnotherOffset(t *testing.T) {
	h := `{"a":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	b = append(append(b, h...), make([]byte, 8)...)
	for range 20 {
		if _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEncodeRejectsBadTensors(t *testing.T) {
	if _, err := Encode(map[string]numerics.Tensor{"x": numerics.NewF32([]int64{3}, []float32{1})}, nil); err == nil {
		t.Error("Encode accepted a tensor whose data does not fill its shape")
	}
	if _, err := Encode(map[string]numerics.Tensor{"__metadata__": numerics.NewF32([]int64{1}, []float32{1})}, nil); err == nil {
		t.Error("Encode accepted the reserved name __metadata__")
	}
	if _, err := Encode(map[string]numerics.Tensor{"caf\xe9": numerics.NewF32([]int64{1}, []float32{1})}, nil); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Encode of a name that is not UTF-8: error %v, want one saying so", err)
	}
	if _, err := Encode(nil, map[string]string{"k": "\xff"}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Encode of metadata that is not UTF-8: error %v, want one saying so", err)
	}
}
