// Package numerics holds the dense tensor value that travels between the
// reference models, the goldens, the protocol codec and the conformance
// checks, and the element-wise comparison that decides whether two tensors
// agree within a tolerance class.
package numerics

import (
	"fmt"
	"math"
)

// DType names an element type with the Open Inference Protocol's datatype
// spelling (FP32, FP64, INT64, ...).
type DType string

// The element types the reference models use.
const (
	FP32  DType = "FP32"
	FP64  DType = "FP64"
	INT64 DType = "INT64"
)

// Size returns the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case FP32:
		return 4
	case FP64, INT64:
		return 8
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == FP32 || d == FP64 }

// Tensor is a dense row-major tensor. Exactly one of F32, F64 or I64 holds
// the elements, the one that matches DType.
type Tensor struct {
	DType DType
	Shape []int64
	F32   []float32
	F64   []float64
	I64   []int64
}

// NewF32 returns an FP32 tensor over data (not copied).
func NewF32(shape []int64, data []float32) Tensor {
	return Tensor{DType: FP32, Shape: append([]int64(nil), shape...), F32: data}
}

// NewF64 returns an FP64 tensor over data (not copied).
func NewF64(shape []int64, data []float64) Tensor {
	return Tensor{DType: FP64, Shape: append([]int64(nil), shape...), F64: data}
}

// NewI64 returns an INT64 tensor over data (not copied).
func NewI64(shape []int64, data []int64) Tensor {
	return Tensor{DType: INT64, Shape: append([]int64(nil), shape...), I64: data}
}

// ShapeElements returns the number of elements a shape holds, or an error
// for a negative dimension or an overflowing product.
func ShapeElements(shape []int64) (int, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d is %d, want ≥ 0", i, d)
		}
		if d != 0 && n > math.MaxInt32/d {
			return 0, fmt.Errorf("shape %v holds more than %d elements", shape, math.MaxInt32)
		}
		n *= d
	}
	return int(n), nil
}

// Len returns the number of elements stored.
func (t Tensor) Len() int {
	switch t.DType {
	case FP32:
		return len(t.F32)
	case FP64:
		return len(t.F64)
	case INT64:
		return len(t.I64)
	}
	return 0
}

// Validate checks that the dtype is known and that the element count matches
// the shape.
func (t Tensor) Validate() error {
	if t.DType.Size() == 0 {
		return fmt.Errorf("unknown datatype %q", t.DType)
	}
	n, err := ShapeElements(t.Shape)
	if err != nil {
		return err
	}
	if n != t.Len() {
		return fmt.Errorf("shape %v needs %d elements, have %d", t.Shape, n, t.Len())
	}
	return nil
}

// At returns element i widened to float64 (exact for FP32 and for INT64
// values below 2^53).
func (t Tensor) At(i int) float64 {
	switch t.DType {
	case FP32:
		return float64(t.F32[i])
	case FP64:
		return t.F64[i]
	case INT64:
		return float64(t.I64[i])
	}
	panic(fmt.Sprintf("numerics: At on tensor of datatype %q", t.DType))
}

// Float64s returns the elements widened to float64 in a new slice.
func (t Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.At(i)
	}
	return out
}

// Clone returns a deep copy of t.
func (t Tensor) Clone() Tensor {
	return Tensor{
		DType: t.DType,
		Shape: append([]int64(nil), t.Shape...),
		F32:   append([]float32(nil), t.F32...),
		F64:   append([]float64(nil), t.F64...),
		I64:   append([]int64(nil), t.I64...),
	}
}

// IndexOf converts a flat row-major index into a multi-index for shape.
func IndexOf(shape []int64, flat int) []int64 {
	idx := make([]int64, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] > 0 {
			idx[i] = int64(flat) % shape[i]
			flat /= int(shape[i])
		}
	}
	return idx
}
