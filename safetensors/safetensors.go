// Package safetensors reads and writes the safetensors file format: an
// 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian tensor bytes.
//
// Files are written deterministically (tensors in name order, header padded
// with spaces to a multiple of 8 bytes), so regenerating a file from the same
// tensors gives identical bytes.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/aiconform/aiconform/numerics"
)

// MaxHeaderSize bounds the JSON header a reader accepts (100 MB, the limit
// of the reference implementation).
const MaxHeaderSize = 100 << 20

// File is a decoded safetensors file.
type File struct {
	Tensors  map[string]numerics.Tensor
	Metadata map[string]string
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

func fileDType(d numerics.DType) (string, error) {
	switch d {
	case numerics.FP32:
		return "F32", nil
	case numerics.FP64:
		return "F64", nil
	case numerics.INT64:
		return "I64", nil
	}
	return "", fmt.Errorf("datatype %q has no safetensors encoding here", d)
}

func tensorDType(s string) (numerics.DType, error) {
	switch s {
	case "F32":
		return numerics.FP32, nil
	case "F64":
		return numerics.FP64, nil
	case "I64":
		return numerics.INT64, nil
	}
	return "", fmt.Errorf("unsupported safetensors dtype %q (want F32, F64 or I64)", s)
}

// Encode returns the safetensors bytes of tensors and metadata.
func Encode(tensors map[string]numerics.Tensor, metadata map[string]string) ([]byte, error) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		if n == "__metadata__" {
			return nil, errors.New(`safetensors: "__metadata__" is reserved and cannot name a tensor`)
		}
		if !utf8.ValidString(n) {
			return nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8, which the JSON header cannot carry", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, k := range slices.Sorted(maps.Keys(metadata)) {
		if v := metadata[k]; !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: __metadata__ entry %q: %q is not valid UTF-8, which the JSON header cannot carry", k, v)
		}
	}

	header := make(map[string]any, len(names)+1)
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var data bytes.Buffer
	for _, n := range names {
		t := tensors[n]
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		dt, err := fileDType(t.DType)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		begin := int64(data.Len())
		switch t.DType {
		case numerics.FP32:
			for _, v := range t.F32 {
				_ = binary.Write(&data, binary.LittleEndian, math.Float32bits(v))
			}
		case numerics.FP64:
			for _, v := range t.F64 {
				_ = binary.Write(&data, binary.LittleEndian, math.Float64bits(v))
			}
		case numerics.INT64:
			for _, v := range t.I64 {
				_ = binary.Write(&data, binary.LittleEndian, v)
			}
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		header[n] = headerEntry{DType: dt, Shape: shape, DataOffsets: [2]int64{begin, int64(data.Len())}}
	}
	hdr, err := json.Marshal(header) // map keys are sorted: deterministic
	if err != nil {
		return nil, fmt.Errorf("safetensors: encoding header: %w", err)
	}
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	out := make([]byte, 8, 8+len(hdr)+data.Len())
	binary.LittleEndian.PutUint64(out, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, data.Bytes()...), nil
}

// Write encodes tensors and metadata to w.
func Write(w io.Writer, tensors map[string]numerics.Tensor, metadata map[string]string) error {
	b, err := Encode(tensors, metadata)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Decode parses a whole safetensors file, checking that every byte range is
// in bounds, matches its dtype and shape, and that ranges do not overlap.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > MaxHeaderSize || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes) or the %d-byte limit", n, len(b), MaxHeaderSize)
	}
	var raw map[string]json.RawMessage
	hdr := b[8 : 8+n]
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a JSON object: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("safetensors: header is null, want a JSON object")
	}
	if rest := bytes.TrimLeft(hdr[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("safetensors: header holds %d bytes after its JSON object, want only padding spaces", len(rest))
	}
	data := b[8+n:]
	f := &File{Tensors: make(map[string]numerics.Tensor, len(raw))}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	// Entries in name order, so that the first error is the same on every
	// decode of the same bytes.
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		msg := raw[name]
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(msg))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		dt, err := tensorDType(e.DType)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		count, err := numerics.ShapeElements(e.Shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] outside the %d data bytes", name, begin, end, len(data))
		}
		if want := int64(count * dt.Size()); end-begin != want {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s, want %d", name, end-begin, e.Shape, e.DType, want)
		}
		spans = append(spans, span{name, begin, end})
		buf := data[begin:end]
		t := numerics.Tensor{DType: dt, Shape: e.Shape}
		switch dt {
		case numerics.FP32:
			t.F32 = make([]float32, count)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		case numerics.FP64:
			t.F64 = make([]float64, count)
			for i := range t.F64 {
				t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		case numerics.INT64:
			t.I64 = make([]int64, count)
			for i := range t.I64 {
				t.I64[i] = int64(binary.LittleEndian.Uint64(buf[8*i:]))
			}
		}
		f.Tensors[name] = t
	}
	// By begin, then end: an empty tensor at the offset where another
	// begins sorts first and overlaps nothing, whatever the order of the
	// header's entries.
	slices.SortFunc(spans, func(a, b span) int { return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end)) })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("safetensors: tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return f, nil
}

// Read decodes a safetensors file from r.
func Read(r io.Reader) (*File, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return Decode(b)
}
