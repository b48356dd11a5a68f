package onnxexport

import (
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

// TestGraphsReproduceFP64Goldens exports each model from the published
// weights, decodes the file and runs its graph in the float64 interpreter
// of eval_test.go on the published FP64 golden cases, and compares with
// the expected outputs. The graph's weights are the published FP32 values, as in the FP64 models, so
// the only differences are summation order and, for seed-transformer, the
// FP32 constants of the graph (√128 and the positional encoding, which the
// FP64 model computes in binary64): a relative error of about 1e-7.
func TestGraphsReproduceFP64Goldens(t *testing.T) {
	d, err := golden.Open(aiconform.Goldens(), aiconform.Testdata())
	if err != nil {
		t.Fatal(err)
	}
	tol := map[string]numerics.Tolerance{
		"seed-cnn":         {Class: "onnx-graph-fp64", RTol: 1e-10, ATol: 1e-12},
		"seed-rnn":         {Class: "onnx-graph-fp64", RTol: 1e-10, ATol: 1e-12},
		"seed-transformer": {Class: "onnx-graph-fp64-fp32-constants", RTol: 1e-5, ATol: 1e-6},
	}
	for _, id := range reference.ModelIDs() {
		t.Run(id, func(t *testing.T) {
			i := slices.IndexFunc(d.Sets, func(s golden.LoadedSet) bool { return s.Model == id && s.DType == numerics.FP64 })
			if i < 0 {
				t.Fatalf("the published goldens have no FP64 set of %s", id)
			}
			set := d.Sets[i]
			w, _, err := reference.LoadWeights(aiconform.Weights(), id)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Export(id, w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			model, err := decodeModel(b)
			if err != nil {
				t.Fatal(err)
			}
			graph := model.GetGraph()
			ran, sawBatch, sawPadding := 0, false, false
			for _, l := range set.Loaded {
				in := map[string]value{}
				elements := 0
				for _, gi := range graph.GetInput() {
					tns, ok := l.Inputs[gi.GetName()]
					if !ok && gi.GetName() == "attention_mask" {
						ids := l.Inputs["input_ids"]
						tns = numerics.NewI64(ids.Shape, slices.Repeat([]int64{1}, ids.Len()))
						ok = true
					}
					if !ok {
						t.Fatalf("%s: no input %s", l.Name, gi.GetName())
					}
					in[gi.GetName()] = toValue(tns)
					elements += tns.Len()
				}
				batched := !sawBatch && l.Inputs[graph.GetInput()[0].GetName()].Shape[0] > 1
				padded := !sawPadding && slices.Contains(l.Inputs["attention_mask"].I64, 0)
				if elements > evalMaxElements || !(ran < evalFirst || batched || padded) {
					continue
				}
				sawBatch = sawBatch || batched
				sawPadding = sawPadding || padded
				ran++
				out, err := evalGraph(graph, in)
				if err != nil {
					t.Fatalf("%s: %v", l.Name, err)
				}
				got := map[string]numerics.Tensor{}
				for name, v := range out {
					got[name] = toTensor(v)
				}
				diffs, err := set.Contract.Compare(l.Inputs, got, l.Outputs, tol[id])
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range diffs {
					if !d.OK() {
						t.Errorf("%s %s: %s", l.Name, d.Name, d.Summary(tol[id]))
					}
				}
			}
			if ran < evalFirst || !sawBatch {
				t.Errorf("%d cases of %s run, batched: %v; want at least %d and a batched one", ran, id, sawBatch, evalFirst)
			}
			if id == "seed-transformer" && !sawPadding {
				t.Errorf("no case of %s with padding was run", id)
			}
			t.Logf("%s: %d of %d FP64 golden cases run in the interpreter", id, ran, len(set.Loaded))
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

// toTensor returns a floating value of the interpreter as an FP64 tensor.
func toTensor(v value) numerics.Tensor {
	shape := make([]int64, len(v.shape))
	for k, d := range v.shape {
		shape[k] = int64(d)
	}
	return numerics.NewF64(shape, v.f)
}
