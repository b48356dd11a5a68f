package numerics

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 whose JSON form is a number when finite and one of the
// strings "NaN", "+Inf", "-Inf" otherwise (JSON has no non-finite numbers;
// a relative error against a zero reference is +Inf).
type Float float64

// NonFinite names a non-finite value as reports write it: "NaN", "+Inf"
// or "-Inf"; ok is false for a finite one.
func NonFinite(v float64) (name string, ok bool) {
	switch {
	case math.IsNaN(v):
		return "NaN", true
	case math.IsInf(v, 1):
		return "+Inf", true
	case math.IsInf(v, -1):
		return "-Inf", true
	}
	return "", false
}

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	if name, ok := NonFinite(float64(f)); ok {
		return []byte(`"` + name + `"`), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "+Inf":
			*f = Float(math.Inf(1))
		case "-Inf":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("numerics: %q is not a number, NaN, +Inf or -Inf", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("numerics: %s is not a number: %w", b, err)
	}
	*f = Float(v)
	return nil
}

// diffJSON is the JSON form of a Diff: its floating figures may be
// non-finite (a relative error against zero is +Inf), which Float writes.
type diffJSON struct {
	Elements   int     `json:"elements"`
	Violations int     `json:"violations"`
	MaxAbs     Float   `json:"maxAbsError"`
	MaxRel     Float   `json:"maxRelError"`
	MaxULP     uint64  `json:"maxUlp"`
	WorstIndex []int64 `json:"worstIndex,omitempty"`
	WorstGot   Float   `json:"worstGot"`
	WorstWant  Float   `json:"worstWant"`
	WorstRatio Float   `json:"worstRatio"`
	Problem    string  `json:"problem,omitempty"`
}

// MarshalJSON writes the Diff with its worst element by multi-index and
// non-finite figures as strings.
func (d Diff) MarshalJSON() ([]byte, error) {
	return json.Marshal(diffJSON{
		Elements: d.Elements, Violations: d.Violations, MaxAbs: Float(d.MaxAbs), MaxRel: Float(d.MaxRel), MaxULP: d.MaxULP,
		WorstIndex: d.WorstIndex, WorstGot: Float(d.WorstGot), WorstWant: Float(d.WorstWant), WorstRatio: Float(d.WorstRatio), Problem: d.Problem,
	})
}

// UnmarshalJSON reads what MarshalJSON writes. The flat index Worst is not
// part of the JSON form; it reads as −1 when no worst element is given.
func (d *Diff) UnmarshalJSON(b []byte) error {
	var j diffJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Diff{
		Elements: j.Elements, Violations: j.Violations, MaxAbs: float64(j.MaxAbs), MaxRel: float64(j.MaxRel), MaxULP: j.MaxULP,
		Worst: -1, WorstIndex: j.WorstIndex, WorstGot: float64(j.WorstGot), WorstWant: float64(j.WorstWant), WorstRatio: float64(j.WorstRatio), Problem: j.Problem,
	}
	return nil
}
