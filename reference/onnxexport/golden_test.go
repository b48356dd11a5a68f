package onnxexport

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
)

// The float64 interpreter is naive, so it runs a few golden cases per
// model (running them all is ONNX Runtime's job in crosscheck/onnx): the
// first evalFirst cases (the batch-1 edge inputs), the first batched case
// and the first case with padding, each with at most evalMaxElements input
// elements.
const (
	evalFirst       = 3
	evalMaxElements = 8 * 28 * 28
)

// TestGraphsReproduceFP64Goldens runs each exported graph, built from the
// published weights, in the float64 interpreter of eval_test.go on the
// published FP64 golden cases and compares with the expected outputs. The
// graph's weights are the published FP32 values, as in the FP64 models, so
// the only differences are summation order and, for seed-transformer, the
// FP32 constants of the graph (√128 and the positional encoding, which the
// FP64 model computes in binary64): a relative error of about 1e-7.
func TestGraphsReproduceFP64Goldens(t *testing.T) {
	m, _, err := golden.ReadManifest(aiconform.Goldens(), ".")
	if err != nil {
		t.Fatal(err)
	}
	tol := map[string]numerics.Tolerance{
		SeedCNN:         {Class: "onnx-graph-fp64", RTol: 1e-10, ATol: 1e-12},
		SeedRNN:         {Class: "onnx-graph-fp64", RTol: 1e-10, ATol: 1e-12},
		SeedTransformer: {Class: "onnx-graph-fp64-fp32-constants", RTol: 1e-5, ATol: 1e-6},
	}
	for _, id := range reference.ModelIDs() {
		t.Run(id, func(t *testing.T) {
			i := slices.IndexFunc(m.Sets, func(s golden.Set) bool { return s.Model == id && s.DType == numerics.FP64 })
			if i < 0 {
				t.Fatalf("the published goldens have no FP64 set of %s", id)
			}
			set := m.Sets[i]
			w, _, err := reference.LoadWeights(aiconform.Weights(), id)
			if err != nil {
				t.Fatal(err)
			}
			model, err := Build(id, w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ran, sawBatch, sawPadding := 0, false, false
			for _, c := range set.Cases {
				l, err := golden.LoadCase(aiconform.Goldens(), ".", c)
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]value{}
				elements := 0
				for _, gi := range model.Graph.Inputs {
					tns, ok := l.Inputs[gi.Name]
					if !ok && gi.Name == "attention_mask" {
						ids := l.Inputs["input_ids"]
						tns = numerics.NewI64(ids.Shape, slices.Repeat([]int64{1}, ids.Len()))
						ok = true
					}
					if !ok {
						t.Fatalf("%s: no input %s", c.Name, gi.Name)
					}
					in[gi.Name] = toValue(tns)
					elements += tns.Len()
				}
				batched := !sawBatch && l.Inputs[model.Graph.Inputs[0].Name].Shape[0] > 1
				padded := !sawPadding && slices.Contains(l.Inputs["attention_mask"].I64, 0)
				if elements > evalMaxElements || !(ran < evalFirst || batched || padded) {
					continue
				}
				sawBatch = sawBatch || batched
				sawPadding = sawPadding || padded
				ran++
				out, err := evalGraph(model.Graph, in)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				for name, want := range l.Outputs {
					got, ok := out[name]
					if !ok {
						t.Errorf("%s: the graph has no output %s", c.Name, name)
						continue
					}
					keep := func(int) bool { return true }
					if mask, masked := l.Inputs["attention_mask"]; masked && len(want.Shape) == 3 {
						v := int(want.Shape[2])
						keep = func(i int) bool { return mask.I64[i/v] != 0 }
					}
					if d := compareMasked(got, want, tol[id], keep); d != "" {
						t.Errorf("%s %s: %s", c.Name, name, d)
					}
				}
			}
			if ran < evalFirst || !sawBatch {
				t.Errorf("%d cases of %s run, batched: %v; want at least %d and a batched one", ran, id, sawBatch, evalFirst)
			}
			if id == SeedTransformer && !sawPadding {
				t.Errorf("no case of %s with padding was run", id)
			}
			t.Logf("%s: %d of %d FP64 golden cases run in the interpreter", id, ran, len(set.Cases))
		})
	}
}

func toValue(t numerics.Tensor) value {
	v := value{shape: make([]int, len(t.Shape))}
	for k, d := range t.Shape {
		v.shape[k] = int(d)
	}
	if t.DType == numerics.INT64 {
		v.isInt, v.i = true, t.I64
	} else {
		v.f = t.Float64s()
	}
	return v
}

// compareMasked compares the elements keep selects; it returns "" when all
// agree, else a description of the worst one.
func compareMasked(got value, want numerics.Tensor, tol numerics.Tolerance, keep func(int) bool) string {
	if len(got.shape) != len(want.Shape) {
		return fmt.Sprintf("shape %v, want %v", got.shape, want.Shape)
	}
	for k, d := range want.Shape {
		if int64(got.shape[k]) != d {
			return fmt.Sprintf("shape %v, want %v", got.shape, want.Shape)
		}
	}
	worst, worstRatio, bad := -1, 0.0, 0
	for i := 0; i < want.Len(); i++ {
		if !keep(i) {
			continue
		}
		w := want.At(i)
		ratio := math.Abs(got.f[i]-w) / (tol.ATol + tol.RTol*math.Abs(w))
		if !(ratio <= 1) {
			bad++
		}
		if worst < 0 || !(ratio <= worstRatio) {
			worst, worstRatio = i, ratio
		}
	}
	if bad == 0 {
		return ""
	}
	return fmt.Sprintf("%d elements outside %s; worst at %v: got %.17g, want %.17g",
		bad, tol, numerics.IndexOf(want.Shape, worst), got.f[worst], want.At(worst))
}
