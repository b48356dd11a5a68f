package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

func TestModelContract(t *testing.T) {
	for _, m := range ReferenceModels() {
		for _, v := range ReferenceVersions() {
			c, err := ModelContract(m, v)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := Tolerance(c.Tolerance); !ok {
				t.Errorf("%s/%s: tolerance class %q is not in the catalog", m, v, c.Tolerance)
			}
			for _, ts := range slices.Concat(c.Inputs, c.Outputs) {
				if ts.Shape[0] != -1 {
					t.Errorf("%s/%s %s: the batch dimension %d is not variable", m, v, ts.Name, ts.Shape[0])
				}
				if ts.Datatype.IsFloat() && string(ts.Datatype) != strings.ToUpper(v) {
					t.Errorf("%s/%s %s: datatype %s", m, v, ts.Name, ts.Datatype)
				}
				if ts.Datatype == FloatPlaceholder {
					t.Errorf("%s/%s %s: the placeholder datatype was not resolved", m, v, ts.Name)
				}
			}
			for _, in := range c.Inputs {
				if in.Domain == nil {
					t.Errorf("%s/%s input %s has no domain", m, v, in.Name)
				}
			}
			for _, out := range c.Outputs {
				if _, ok := c.Input(out.MaskedBy); out.MaskedBy != "" && !ok {
					t.Errorf("%s/%s output %s is masked by %q, which is no input", m, v, out.Name, out.MaskedBy)
				}
			}
		}
	}
	if _, err := ModelContract("seed-cnn", "int8"); err == nil {
		t.Error("int8 accepted")
	}
	if _, err := ModelContract("resnet", "fp32"); err == nil {
		t.Error("resnet accepted")
	}
	c, _ := ModelContract("seed-transformer", "fp64")
	if c.Inputs[0].Datatype != "INT64" || !c.Inputs[1].Optional || c.Outputs[0].Datatype != "FP64" || c.Outputs[0].MaskedBy != "attention_mask" {
		t.Errorf("seed-transformer contract %+v", c)
	}
	// The contract is a copy: changing it changes nothing for the next caller.
	c.Inputs[0].Shape[0] = 7
	if d, _ := ModelContract("seed-transformer", "fp64"); d.Inputs[0].Shape[0] != -1 {
		t.Error("ModelContract hands out shared slices")
	}
}

func TestComparedMaskAndCompare(t *testing.T) {
	c, _ := ModelContract("seed-transformer", "fp32")
	mask := numerics.NewI64([]int64{2, 2}, []int64{1, 1, 1, 0})
	in := map[string]numerics.Tensor{"attention_mask": mask}
	got, err := c.ComparedMask("logits", in, []int64{2, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, true, true, true, true, true, true, false, false, false}
	if !slices.Equal(got, want) {
		t.Errorf("mask %v, want %v", got, want)
	}
	if m, err := c.ComparedMask("logits", nil, []int64{2, 2, 3}); m != nil || err != nil {
		t.Errorf("without a mask input every element is compared, got %v, %v", m, err)
	}
	if _, err := c.ComparedMask("logits", in, []int64{2, 3, 3}); err == nil {
		t.Error("a logits shape that does not extend the mask was accepted")
	}
	w := numerics.NewF32([]int64{2, 2, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	g := numerics.NewF32([]int64{2, 2, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 99, 99, 99})
	tol, _ := Tolerance("fp32")
	diffs, err := c.Compare(in, map[string]numerics.Tensor{"logits": g}, map[string]numerics.Tensor{"logits": w}, tol)
	if err != nil || len(diffs) != 1 || !diffs[0].OK() || diffs[0].Elements != 9 {
		t.Errorf("padded positions were compared: %+v, %v", diffs, err)
	}
	diffs, _ = c.Compare(nil, map[string]numerics.Tensor{"logits": g}, map[string]numerics.Tensor{"logits": w}, tol)
	if diffs[0].OK() || diffs[0].Violations != 3 {
		t.Errorf("without a mask every position is compared: %+v", diffs)
	}
	diffs, _ = c.Compare(nil, nil, map[string]numerics.Tensor{"logits": w}, tol)
	if diffs[0].OK() || diffs[0].Problem == "" {
		t.Errorf("a missing output agreed: %+v", diffs)
	}
}

func TestOutputDiffJSON(t *testing.T) {
	o := OutputDiff{Name: "logits", Diff: numerics.Diff{Elements: 3, Violations: 1, MaxRel: math.Inf(1), Worst: 2, WorstIndex: []int64{0, 2}, WorstRatio: 4}}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"name":"logits","elements":3,"violations":1,`) || !strings.Contains(string(b), `"maxRelError":"+Inf"`) || !strings.Contains(string(b), `"worstIndex":[0,2]`) {
		t.Errorf("JSON %s", b)
	}
	var back OutputDiff
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != "logits" || back.Violations != 1 || !math.IsInf(back.MaxRel, 1) || !slices.Equal(back.WorstIndex, []int64{0, 2}) {
		t.Errorf("round trip %+v", back)
	}
}

// TestServedTensorsTable holds the "Served tensors" table of
// reference-models.md to models.json, row by row.
func TestServedTensorsTable(t *testing.T) {
	b, err := os.ReadFile("v1/reference-models.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "| model | inputs | outputs |")
	if start < 0 {
		t.Fatal("reference-models.md has no served tensors table")
	}
	rows := 0
	for _, line := range strings.Split(text[start:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		model := strings.Trim(strings.TrimSpace(cells[0]), "`")
		c, err := ModelContract(model, "fp32")
		if err != nil {
			t.Errorf("table row %q: %v", line, err)
			continue
		}
		rows++
		for i, ts := range [][]Tensor{c.Inputs, c.Outputs} {
			var want []string
			for _, x := range ts {
				dt := string(x.Datatype)
				if x.Datatype.IsFloat() {
					dt = FloatPlaceholder
				}
				dims := make([]string, len(x.Shape))
				for j, d := range x.Shape {
					dims[j] = strings.Replace(fmt.Sprint(d), "-", "−", 1)
				}
				cell := fmt.Sprintf("`%s` %s [%s]", x.Name, dt, strings.Join(dims, ","))
				if x.Optional {
					cell += ", optional"
				}
				want = append(want, cell)
			}
			sep := ", "
			if i == 0 {
				sep = "; "
			}
			if got := strings.TrimSpace(cells[i+1]); got != strings.Join(want, sep) {
				t.Errorf("%s %s: the table says %q, models.json %q", model, []string{"inputs", "outputs"}[i], got, strings.Join(want, sep))
			}
		}
	}
	if rows != len(ReferenceModels()) {
		t.Errorf("the table has %d models, models.json %d", rows, len(ReferenceModels()))
	}
}
