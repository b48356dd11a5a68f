package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aiconform/aiconform/internal/fuzzcheck"
	"github.com/aiconform/aiconform/numerics"
)

// sameFiles says how b differs from a, tensors compared bit for bit; ""
// when it does not. A nil and an empty metadata map are alike.
func sameFiles(a, b *File) string {
	if !slices.Equal(a.Names(), b.Names()) {
		return "tensors " + fmtNames(a.Names()) + ", want " + fmtNames(b.Names())
	}
	for _, n := range a.Names() {
		if msg := fuzzcheck.SameTensor(a.Tensors[n], b.Tensors[n]); msg != "" {
			return "tensor " + n + ": " + msg
		}
	}
	if !maps.Equal(a.Metadata, b.Metadata) {
		return "metadata differ"
	}
	return ""
}

func fmtNames(names []string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

// header returns a safetensors file of the given header and data bytes.
func header(h string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

// FuzzDecode feeds arbitrary bytes to Decode and Read. Both agree; the
// outcome is the same on every call (the header is a JSON object, whose
// members Go visits in random order); a decoded file holds valid tensors
// whose bytes fit in the file; encoding it again decodes to the same
// tensors and metadata, and that encoding is stable. Memory stays bounded
// by the file's size, whatever the header declares.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{
		"../testdata/weights/seed-rnn.safetensors",
		"../testdata/goldens/v1/seed-rnn/fp32/case-000.safetensors",
		"../testdata/goldens/v1/seed-rnn/fp64/case-000.safetensors",
		"../testdata/goldens/v1/seed-transformer/fp32/case-000.safetensors",
	} {
		b, err := os.ReadFile(filepath.FromSlash(file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	sampleFile, err := Encode(sample(), map[string]string{"seed": "x"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sampleFile)
	for _, s := range []struct {
		h    string
		data []byte
	}{
		{`{}`, nil},
		{`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, []byte{0, 0, 0x80, 0x3f}},
		{`{"a":{"dtype":"I64","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)},
		{`{"a":{"dtype":"F64","shape":[2147483647],"data_offsets":[0,8]}}`, make([]byte, 8)},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, make([]byte, 8)},
		{`{"__metadata__":{"k":"v"}}`, nil},
		{`{"__metadata__":{"k":1}}`, nil},
		{`null`, nil},
	} {
		f.Add(header(s.h, s.data))
	}
	f.Add(binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			file, again, read *File
			err, err2, errR   error
		)
		fuzzcheck.Bounded(t, 3*fuzzcheck.Limit(len(b)), "Decode and Read", func() {
			file, err = Decode(b)
			again, err2 = Decode(b)
			read, errR = Read(bytes.NewReader(b))
		})
		if (err == nil) != (err2 == nil) || (err == nil) != (errR == nil) {
			t.Fatalf("Decode and Read disagree on the same bytes: %v, %v, %v", err, err2, errR)
		}
		if err != nil {
			if err.Error() != err2.Error() {
				t.Fatalf("two decodes of the same bytes fail differently: %q, then %q", err, err2)
			}
			return
		}
		if msg := sameFiles(again, file); msg != "" {
			t.Fatalf("two decodes of the same bytes differ: %s", msg)
		}
		if msg := sameFiles(read, file); msg != "" {
			t.Fatalf("Read and Decode differ: %s", msg)
		}
		total := 0
		for name, x := range file.Tensors {
			if err := x.Validate(); err != nil {
				t.Fatalf("tensor %q: %v", name, err)
			}
			total += x.Len() * x.DType.Size()
		}
		if total > len(b) {
			t.Fatalf("%d bytes of tensors decoded from a %d-byte file", total, len(b))
		}
		enc, err := Encode(file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("a decoded file does not encode: %v", err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("the encoding of a decoded file does not decode: %v", err)
		}
		if msg := sameFiles(back, file); msg != "" {
			t.Fatalf("encoding then decoding changed the file: %s", msg)
		}
		if enc2, err := Encode(back.Tensors, back.Metadata); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not stable (%v)", err)
		}
	})
}

// fuzzTensor builds a tensor of the datatype sel picks, of the shape dims
// gives (one dimension per byte, at most four), its elements taken from
// raw in turn, bit for bit; ok is false when the shape holds too many
// elements for a fuzz input.
func fuzzTensor(sel uint8, dims, raw []byte) (numerics.Tensor, bool) {
	if len(dims) > 4 {
		dims = dims[:4]
	}
	shape := make([]int64, len(dims))
	n := 1
	for i, d := range dims {
		shape[i] = int64(d)
		n *= int(d)
	}
	if n > 1<<12 {
		return numerics.Tensor{}, false
	}
	dt := []numerics.DType{numerics.FP32, numerics.FP64, numerics.INT64}[int(sel)%3]
	word := func(i int) uint64 {
		var w [8]byte
		for j := range w {
			if len(raw) > 0 {
				w[j] = raw[(8*i+j)%len(raw)]
			}
		}
		return binary.LittleEndian.Uint64(w[:])
	}
	t := numerics.Tensor{DType: dt, Shape: shape}
	switch dt {
	case numerics.FP32:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(uint32(word(i)))
		}
	case numerics.FP64:
		t.F64 = make([]float64, n)
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(word(i))
		}
	case numerics.INT64:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			t.I64[i] = int64(word(i))
		}
	}
	return t, true
}

// FuzzEncodeDecode encodes two tensors built from the fuzzer's bytes, with
// names and metadata from its strings, and decodes them: Encode either
// refuses them or writes an aligned, deterministic file that decodes to
// the same names, tensors (bit for bit, NaN payloads included) and
// metadata.
func FuzzEncodeDecode(f *testing.F) {
	f.Add("weight", "bias", uint8(0), []byte{2, 3}, []byte{0, 0, 0x80, 0x7f, 1, 2, 3}, "seed", "42")
	f.Add("input.input", "output.logits", uint8(1), []byte{1, 2, 1}, []byte{0xff}, "", "")
	f.Add("ids", "ids", uint8(2), []byte{}, []byte{1, 0, 0, 0, 0, 0, 0, 0x80}, "k", "v")
	f.Add("__metadata__", "x", uint8(0), []byte{1}, []byte{1}, "", "")
	f.Add("caf\xe9", "\u00e9t\u00e9", uint8(0), []byte{0}, []byte{}, "\xff", "\xfe")
	f.Fuzz(func(t *testing.T, name1, name2 string, sel uint8, dims, raw []byte, metaKey, metaValue string) {
		x, ok := fuzzTensor(sel, dims, raw)
		if !ok {
			return
		}
		y, _ := fuzzTensor(sel+1, []byte{byte(min(len(raw), 255))}, raw)
		tensors := map[string]numerics.Tensor{name1: x, name2: y}
		var meta map[string]string
		if metaKey != "" {
			meta = map[string]string{metaKey: metaValue}
		}
		enc, err := Encode(tensors, meta)
		if err != nil {
			return
		}
		if n := binary.LittleEndian.Uint64(enc); n%8 != 0 {
			t.Fatalf("header length %d is not a multiple of 8", n)
		}
		if enc2, err := Encode(tensors, meta); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("two encodings of the same tensors differ (%v)", err)
		}
		file, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of Encode: %v", err)
		}
		if msg := sameFiles(file, &File{Tensors: tensors, Metadata: meta}); msg != "" {
			t.Fatalf("Decode of Encode: %s", msg)
		}
	})
}
