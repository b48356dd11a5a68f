package numerics

import (
	"fmt"
	"math"
	"slices"
)

// Tolerance is the acceptance rule of a tolerance class: element i agrees
// when |got−want| ≤ ATol + RTol·|want| (the rule of numpy.allclose and of the
// ONNX backend tests).
type Tolerance struct {
	Class string  `json:"class"`
	RTol  float64 `json:"rtol"`
	ATol  float64 `json:"atol"`
}

// String renders the tolerance for messages.
func (t Tolerance) String() string {
	return fmt.Sprintf("class %s (rtol %.1e, atol %.1e)", t.Class, t.RTol, t.ATol)
}

// Diff summarises how far a tensor is from its expected value.
//
// Its JSON form (see MarshalJSON) is the "output" evidence of a report.
type Diff struct {
	// Elements is the number of elements compared.
	Elements int
	// Violations counts elements outside the tolerance (non-finite ones included).
	Violations int
	// MaxAbs and MaxRel are the largest absolute and relative errors seen;
	// the relative error divides by |want| and is +Inf where want is 0 and got is not.
	MaxAbs float64
	MaxRel float64
	// MaxULP is the largest distance in units in the last place of the
	// expected tensor's datatype.
	MaxULP uint64
	// Worst is the flat index of the element that uses the largest share of
	// its tolerance (or the first non-finite mismatch), with its values;
	// WorstIndex is the same element by multi-index.
	Worst      int
	WorstIndex []int64
	WorstGot   float64
	WorstWant  float64
	// WorstRatio is |got−want| / (ATol + RTol·|want|) at Worst: ≤ 1 passes.
	WorstRatio float64
	// Problem is set when the tensors cannot be compared at all.
	Problem string
}

// OK reports whether every element agreed.
func (d Diff) OK() bool { return d.Problem == "" && d.Violations == 0 }

// Summary is a one-line description naming the worst element.
func (d Diff) Summary(tol Tolerance) string {
	if d.Problem != "" {
		return d.Problem
	}
	return fmt.Sprintf("%d of %d elements outside %s; worst at index %v (flat %d): got %.9g, want %.9g, abs error %.3g, max rel error %.3g, max %d ULP",
		d.Violations, d.Elements, tol, d.WorstIndex, d.Worst, d.WorstGot, d.WorstWant, math.Abs(d.WorstGot-d.WorstWant), d.MaxRel, d.MaxULP)
}

// Compare compares got with want element by element under tol. Shapes must
// be equal; datatypes may differ (values are compared in float64), ULPs are
// counted in want's datatype.
func Compare(got, want Tensor, tol Tolerance) Diff {
	return CompareMasked(got, want, tol, nil)
}

// CompareMasked is Compare restricted to the elements i with compared[i]
// true; a nil mask compares every element. Elements left out (such as the
// logits at padded positions, which the standard leaves unspecified) count
// neither in Elements nor in any figure.
func CompareMasked(got, want Tensor, tol Tolerance, compared []bool) Diff {
	d := Diff{Worst: -1}
	if !slices.Equal(got.Shape, want.Shape) {
		d.Problem = fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
		return d
	}
	if got.Len() != want.Len() {
		d.Problem = fmt.Sprintf("%d elements, want %d", got.Len(), want.Len())
		return d
	}
	n := want.Len()
	if compared != nil && len(compared) != n {
		d.Problem = fmt.Sprintf("comparison mask has %d entries for %d elements", len(compared), n)
		return d
	}
	for i := 0; i < n; i++ {
		if compared != nil && !compared[i] {
			continue
		}
		d.Elements++
		g, w := got.At(i), want.At(i)
		abs := math.Abs(g - w)
		bound := tol.ATol + tol.RTol*math.Abs(w)
		var ratio float64
		switch {
		case g == w: // NaN never agrees, not even with NaN (spec/v1/tolerances.md)
			ratio = 0
			abs = 0
		case math.IsNaN(abs) || math.IsInf(abs, 0):
			ratio = math.Inf(1)
		case bound == 0:
			ratio = math.Inf(1)
		default:
			ratio = abs / bound
		}
		if ratio > 1 {
			d.Violations++
		}
		if abs > d.MaxAbs || math.IsNaN(abs) {
			d.MaxAbs = abs
		}
		if abs > 0 {
			rel := math.Inf(1)
			if w != 0 {
				rel = abs / math.Abs(w)
			}
			if rel > d.MaxRel || math.IsNaN(rel) {
				d.MaxRel = rel
			}
		}
		if u := ulpDistance(g, w, want.DType); u > d.MaxULP {
			d.MaxULP = u
		}
		if d.Worst < 0 || ratio > d.WorstRatio || (math.IsInf(ratio, 1) && !math.IsInf(d.WorstRatio, 1)) {
			d.Worst, d.WorstRatio, d.WorstGot, d.WorstWant = i, ratio, g, w
		}
	}
	if d.Worst >= 0 {
		d.WorstIndex = IndexOf(want.Shape, d.Worst)
	}
	return d
}

// ulpDistance counts the representable values of dtype between a and b
// (saturating at MaxUint64 for NaN or opposite infinities).
func ulpDistance(a, b float64, dtype DType) uint64 {
	if a == b {
		return 0
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.MaxUint64
	}
	if dtype == FP32 {
		return distance(orderedBits32(float32(a)), orderedBits32(float32(b)))
	}
	return distance(orderedBits64(a), orderedBits64(b))
}

func orderedBits32(f float32) int64 {
	b := int64(int32(math.Float32bits(f)))
	if b < 0 {
		b = math.MinInt32 - b
	}
	return b
}

func orderedBits64(f float64) int64 {
	b := int64(math.Float64bits(f))
	if b < 0 {
		b = math.MinInt64 - b
	}
	return b
}

func distance(a, b int64) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(b) - uint64(a)
}
