package conformance

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// TestChecksCiteTheCatalog fails if a check cites a requirement ID the
// spec's catalog lacks, or sits at a level other than its requirements'.
func TestChecksCiteTheCatalog(t *testing.T) {
	idPattern := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)*$`)
	seen := map[string]bool{}
	for _, c := range Checks() {
		if !idPattern.MatchString(c.ID) || seen[c.ID] {
			t.Errorf("check id %q is malformed or repeated", c.ID)
		}
		seen[c.ID] = true
		if len(c.Requirements) == 0 || c.Title == "" {
			t.Errorf("%s cites no requirement or has no title", c.ID)
		}
		for _, id := range c.Requirements {
			r, ok := spec.Lookup(id)
			if !ok {
				t.Errorf("%s cites %s, which the spec catalog lacks", c.ID, id)
				continue
			}
			if r.Level != c.Level {
				t.Errorf("%s is at level %s but cites %s of level %s", c.ID, c.Level, id, r.Level)
			}
		}
	}
	// Issue 2's requirements each have a check.
	for _, id := range []string{"OIP-HEALTH-LIVE", "OIP-HEALTH-READY", "OIP-MODEL-READY", "OIP-SERVER-META", "OIP-MODEL-META",
		"OIP-INFER-SCHEMA", "OIP-INFER-ID-ECHO", "OIP-ERROR-FORMAT", "OIP-UNKNOWN-MODEL", "NUM-GOLDEN"} {
		found := false
		for _, c := range checks {
			found = found || strings.Contains(strings.Join(c.Requirements, " "), id)
		}
		if !found {
			t.Errorf("no check cites %s", id)
		}
	}
}

func TestLevelVerdicts(t *testing.T) {
	r := func(l spec.Level, s spec.Status) Result { return Result{Level: l, Status: s} }
	tests := []struct {
		name    string
		results []Result
		want    map[spec.Level]spec.Verdict
	}{
		{"nothing ran", nil, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictNotRun, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun}},
		{"all pass", []Result{r(spec.Core, spec.Pass), r(spec.Core, spec.Pass)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun}},
		{"skip with pass", []Result{r(spec.Core, spec.Skip), r(spec.Core, spec.Pass)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun}},
		{"only skips", []Result{r(spec.Core, spec.Skip)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictNotRun, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun}},
		{"a failure", []Result{r(spec.Core, spec.Pass), r(spec.Core, spec.Fail), r(spec.Safety, spec.Pass)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictFail, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictPass}},
		{"an error", []Result{r(spec.Performance, spec.Error), r(spec.Performance, spec.Pass)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictNotRun, spec.Performance: spec.VerdictFail, spec.Safety: spec.VerdictNotRun}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := levelVerdicts(tt.results)
			for l, v := range tt.want {
				if got[l] != v {
					t.Errorf("level %s: %s, want %s", l, got[l], v)
				}
			}
		})
	}
	pass := map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Safety: spec.VerdictNotRun}
	if verdict([]spec.Level{spec.Core}, pass) != spec.VerdictPass {
		t.Error("core passed but the verdict is not pass")
	}
	if verdict([]spec.Level{spec.Core, spec.Safety}, pass) != spec.VerdictFail {
		t.Error("a requested level did not run but the verdict is pass")
	}
	if verdict(nil, pass) != spec.VerdictFail {
		t.Error("no requested level but the verdict is pass")
	}
}

func TestFloatJSON(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		json string
	}{{1.5, "1.5"}, {0, "0"}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`}, {math.NaN(), `"NaN"`}, {1e-300, "1e-300"}} {
		b, err := json.Marshal(Float(tt.f))
		if err != nil || string(b) != tt.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tt.f, b, err, tt.json)
		}
		var back Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !(float64(back) == tt.f || math.IsNaN(tt.f) && math.IsNaN(float64(back))) {
			t.Errorf("round trip of %v gave %v", tt.f, back)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte(`"Infinity"`), &f); err == nil {
		t.Error(`"Infinity" accepted`)
	}
}

func TestExcerpt(t *testing.T) {
	c := &client{token: "tok3n"}
	tests := []struct {
		name  string
		body  string
		limit int
		cutAt int64
		want  string
	}{
		{"short", "hello", 10, 0, "hello"},
		{"redacted", "auth tok3n ok", 100, 0, "auth [redacted] ok"},
		{"cut", strings.Repeat("a", 100), 40, 0, strings.Repeat("a", 40-len("… [100 bytes in all]")) + "… [100 bytes in all]"},
		{"cut at rune start", strings.Repeat("é", 50), 30, 0, strings.Repeat("é", 4) + "… [100 bytes in all]"},
		{"over the limit", "abc", 100, 3, "abc… [cut off at the 3-byte limit]"},
		{"invalid utf-8", "a\xffb", 100, 0, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.excerpt([]byte(tt.body), tt.limit, tt.cutAt)
			if got != tt.want {
				t.Errorf("excerpt = %q, want %q", got, tt.want)
			}
			if tt.cutAt == 0 && len(got) > max(tt.limit, len(tt.body)) {
				t.Errorf("excerpt of %d bytes exceeds the limit %d", len(got), tt.limit)
			}
		})
	}
}

func TestContractDiff(t *testing.T) {
	c, _ := ReferenceContract("seed-transformer", "fp32")
	md := oip.ModelMetadata{
		Inputs:  []oip.TensorMetadata{{Name: "input_ids", Datatype: "INT32", Shape: []int64{-1, -1}}, {Name: "extra", Datatype: "FP32", Shape: []int64{1}}},
		Outputs: []oip.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{-1, 64, 100}}},
	}
	got := contractDiff(c, md)
	want := []string{
		`input "input_ids": datatype INT32, want INT64`,
		`input "extra" is not part of the seed-transformer contract`,
		`output "logits": shape [-1 64 100], want [-1 -1 100] (-1 is a variable dimension)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("contractDiff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	md.Inputs = md.Inputs[:1]
	md.Inputs[0].Datatype = "INT64"
	md.Outputs[0].Shape = []int64{-1, -1, 100}
	if got := contractDiff(c, md); len(got) != 0 {
		t.Errorf("the optional attention_mask may be absent, got %v", got)
	}
	md.Outputs = nil
	if got := contractDiff(c, md); len(got) != 1 || !strings.Contains(got[0], `output "logits" of the seed-transformer contract is not declared`) {
		t.Errorf("missing output: %v", got)
	}
}

func TestCheckCase(t *testing.T) {
	c, _ := ReferenceContract("seed-cnn", "fp32")
	in := numerics.NewF32([]int64{1, 1, 28, 28}, make([]float32, 784))
	out := numerics.NewF32([]int64{1, 10}, make([]float32, 10))
	if err := checkCase(c, loaded(map[string]numerics.Tensor{"input": in}, map[string]numerics.Tensor{"logits": out})); err != nil {
		t.Errorf("a fitting case: %v", err)
	}
	bad := numerics.NewF32([]int64{1, 28, 28}, make([]float32, 784))
	if err := checkCase(c, loaded(map[string]numerics.Tensor{"input": bad}, map[string]numerics.Tensor{"logits": out})); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a case with a wrong input shape: %v", err)
	}
	f64 := numerics.NewF64([]int64{1, 10}, make([]float64, 10))
	if err := checkCase(c, loaded(map[string]numerics.Tensor{"input": in}, map[string]numerics.Tensor{"logits": f64})); err == nil || !strings.Contains(err.Error(), "datatype FP64") {
		t.Errorf("a case with an FP64 output for fp32: %v", err)
	}
	if err := checkCase(c, loaded(map[string]numerics.Tensor{"input": in}, map[string]numerics.Tensor{"scores": out})); err == nil {
		t.Error("a case with an unknown output passed")
	}
}

// TestRunCheckRecovers makes a panicking check an error result.
func TestRunCheckRecovers(t *testing.T) {
	e := &env{c: &client{now: fixedClock(time.Millisecond)}}
	ch := check{ID: "x/boom", Requirements: []string{"NUM-GOLDEN"}, Level: spec.Core, Title: "boom",
		Run: func(context.Context, *env) Result { panic("boom") }}
	r := runCheck(context.Background(), ch, e)
	if r.Status != spec.Error || !strings.Contains(r.Message, "boom") || r.ID != "x/boom" || r.Duration.Value != 1 {
		t.Errorf("result %+v", r)
	}
	ch.Run = func(context.Context, *env) Result { return Result{Status: spec.Pass, Message: "line one\nline two"} }
	if r := runCheck(context.Background(), ch, e); r.Message != "line one line two" {
		t.Errorf("message %q is not one line", r.Message)
	}
}

func loaded(in, out map[string]numerics.Tensor) golden.Loaded {
	return golden.Loaded{Inputs: in, Outputs: out}
}
