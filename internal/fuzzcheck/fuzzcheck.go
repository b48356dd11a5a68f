// Package fuzzcheck holds what the fuzz targets of the decoders share: a
// bound on the memory one decode may allocate, so that a tiny input that
// declares a huge tensor or header is caught even when the allocation
// itself would succeed (a fresh mapping of untouched pages costs nothing
// until it is written), and a bitwise comparison of tensors.
package fuzzcheck

import (
	"fmt"
	"math"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

// FixedAllowance is the allocation every decode may make whatever its
// input's size: parsers, schema validation and error messages.
const FixedAllowance = 64 << 20

// PerByteAllowance is what a decode may allocate for each byte of its
// input on top of FixedAllowance. A JSON array of one-digit numbers is
// about 2 bytes per element, decoded through []any, json.Number and then
// the tensor's own slice, so some hundreds of bytes per input byte are
// honest; gigabytes for a handful of bytes are not.
const PerByteAllowance = 1 << 10

// Limit returns the allocation allowed for a decode of an input of n
// bytes: FixedAllowance plus PerByteAllowance per byte.
func Limit(n int) uint64 { return FixedAllowance + PerByteAllowance*uint64(n) }

var allocsMetric = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// allocated returns the bytes the program has allocated on the heap so
// far. Small objects are counted when their span is handed to a
// processor, so the figure runs ahead by at most a span per size class;
// large objects are counted at once.
func allocated() uint64 {
	metrics.Read(allocsMetric)
	if allocsMetric[0].Value.Kind() != metrics.KindUint64 {
		panic("fuzzcheck: runtime metric /gc/heap/allocs:bytes is not a uint64")
	}
	return allocsMetric[0].Value.Uint64()
}

// Bounded runs f and fails t when it allocated more than limit bytes (see
// Limit). It is for the single goroutine of a fuzz target: allocations of
// other goroutines that run at the same time are counted too.
func Bounded(t testing.TB, limit uint64, what string, f func()) {
	t.Helper()
	before := allocated()
	f()
	if got := allocated() - before; got > limit {
		t.Fatalf("%s allocated %d bytes, more than the %d bytes its input allows", what, got, limit)
	}
}

// SameTensor returns "" when a and b have the same datatype, shape and
// elements, bit for bit (so NaN equals a NaN of the same bits and -0 does
// not equal 0), and otherwise says the first difference.
func SameTensor(a, b numerics.Tensor) string {
	if a.DType != b.DType {
		return fmt.Sprintf("datatype %s, want %s", a.DType, b.DType)
	}
	if !slices.Equal(a.Shape, b.Shape) {
		return fmt.Sprintf("shape %v, want %v", a.Shape, b.Shape)
	}
	if a.Len() != b.Len() {
		return fmt.Sprintf("%d elements, want %d", a.Len(), b.Len())
	}
	for i := range a.Len() {
		var x, y uint64
		switch a.DType {
		case numerics.FP32:
			x, y = uint64(math.Float32bits(a.F32[i])), uint64(math.Float32bits(b.F32[i]))
		case numerics.FP64:
			x, y = math.Float64bits(a.F64[i]), math.Float64bits(b.F64[i])
		case numerics.INT64:
			x, y = uint64(a.I64[i]), uint64(b.I64[i])
		}
		if x != y {
			return fmt.Sprintf("element %d is %v, want %v", i, a.At(i), b.At(i))
		}
	}
	return ""
}

// CheckTensor returns "" when t is a valid tensor of datatype and shape
// (its element count the product of the shape), and otherwise says what
// is wrong.
func CheckTensor(t numerics.Tensor, datatype string, shape []int64) string {
	if err := t.Validate(); err != nil {
		return err.Error()
	}
	if string(t.DType) != datatype {
		return fmt.Sprintf("datatype %s, want %s", t.DType, datatype)
	}
	if !slices.Equal(t.Shape, shape) && !(len(t.Shape) == 0 && len(shape) == 0) {
		return fmt.Sprintf("shape %v, want %v", t.Shape, shape)
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	if t.Len() != n {
		return fmt.Sprintf("%d elements, shape %v holds %d", t.Len(), shape, n)
	}
	return ""
}
