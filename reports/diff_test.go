package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// diffClone deep-copies a report through its JSON form.
func diffClone(t *testing.T, r *conformance.Report) *conformance.Report {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out conformance.Report
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// diffCheck returns the check of r with id.
func diffCheck(t *testing.T, r *conformance.Report, id string) *conformance.Result {
	t.Helper()
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	t.Fatalf("the report has no check %s", id)
	return nil
}

// diffPassingCore is the fixture cut to its core checks, with every
// golden case passing: a report whose one requested level, core, passes.
func diffPassingCore(t *testing.T) *conformance.Report {
	t.Helper()
	r := diffClone(t, fixture(t))
	r.RequestedLevels = []spec.Level{spec.Core}
	r.Checks = slices.DeleteFunc(r.Checks, func(c conformance.Result) bool { return c.Level != spec.Core })
	g := diffCheck(t, r, "numerics/golden")
	g.Status, g.Message = spec.Pass, "every case agrees"
	for i := range g.Evidence.Cases {
		c := &g.Evidence.Cases[i]
		c.Status, c.Message = spec.Pass, ""
		for j := range c.Outputs {
			c.Outputs[j].Diff = numerics.Diff{Elements: 10, Worst: 0, WorstIndex: []int64{0, 0}, WorstRatio: 0.1}
		}
	}
	r.Derive()
	if r.Verdict != spec.VerdictPass {
		t.Fatalf("the passing core report has verdict %s", r.Verdict)
	}
	return r
}

// diffFixture is the fixture with its derived parts recomputed.
func diffFixture(t *testing.T) *conformance.Report {
	t.Helper()
	r := fixture(t)
	r.Derive()
	return r
}

// diffScenario returns the first scenario of check id.
func diffScenario(t *testing.T, r *conformance.Report, id string) *conformance.ScenarioEvidence {
	t.Helper()
	c := diffCheck(t, r, id)
	if len(c.Evidence.Performance) == 0 {
		t.Fatalf("check %s has no performance evidence", id)
	}
	return &c.Evidence.Performance[0]
}

// diffKey is a change without its values and message, as the tests list them.
func diffKey(c Change) string {
	parts := []string{string(c.Effect), string(c.Kind)}
	for _, s := range []string{c.Check, c.Subject, c.Figure} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if c.Old != "" || c.New != "" {
		parts = append(parts, c.Old+"→"+c.New)
	}
	return strings.Join(parts, " | ")
}

// Checks and cases of the fixture the tests edit.
const (
	golden = "numerics/golden"
	cnn0   = "seed-cnn@fp32, set seed-cnn/fp32 (cpu), case case-000"
	cnn1   = "seed-cnn@fp32, set seed-cnn/fp32 (cpu), case case-001"
	rnn0   = "seed-rnn@fp32, set seed-rnn/fp32 (cpu), case case-000"
	single = "performance/single-stream"
	srv    = "performance/server"
	audit  = "performance/cache-audit"
)

func TestDiffCompare(t *testing.T) {
	tests := []struct {
		name string
		// base is the old report; edit makes the new one from a copy of
		// it, and old (when set) edits the old one.
		base func(*testing.T) *conformance.Report
		old  func(*testing.T, *conformance.Report)
		edit func(*testing.T, *conformance.Report)
		o    *DiffOptions
		want []string
		// wantMessage, when set, is the message of the first change.
		wantMessage string
	}{
		{name: "nothing changed", base: diffFixture, edit: func(*testing.T, *conformance.Report) {}},
		{name: "nothing changed, passing", base: diffPassingCore, edit: func(*testing.T, *conformance.Report) {}},
		{
			name: "a MUST check flips", base: diffPassingCore,
			edit: func(t *testing.T, r *conformance.Report) {
				c := diffCheck(t, r, "api/health-live")
				c.Status, c.Message = spec.Fail, "GET /v2/health/live answered 503"
				r.Derive()
			},
			want: []string{
				"regression | verdict | pass→fail",
				"regression | level | core | pass→fail",
				"regression | check | api/health-live | pass→fail",
			},
		},
		{
			name: "a passing check goes missing", base: diffPassingCore,
			edit: func(t *testing.T, r *conformance.Report) {
				r.Checks = slices.DeleteFunc(r.Checks, func(c conformance.Result) bool { return c.ID == "api/unknown-model" })
				r.Derive()
			},
			want: []string{"regression | check | api/unknown-model | pass→absent"},
		},
		{
			name: "a check passes now, a new check and a failing one gone", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				diffCheck(t, r, "safety/malformed-json").Status = spec.Pass
				r.Checks = slices.DeleteFunc(r.Checks, func(c conformance.Result) bool { return c.ID == golden })
				r.Checks = append(r.Checks, conformance.Result{ID: "api/health-ready", Requirements: []string{"OIP-HEALTH-READY"},
					Level: spec.Core, Status: spec.Pass, Message: "GET /v2/health/ready answered 200"})
				r.Derive()
			},
			want: []string{
				"improvement | level | core | fail→pass",
				"improvement | level | safety | fail→pass",
				"improvement | check | safety/malformed-json | fail→pass",
				"note | check | numerics/golden | fail→absent",
				"note | check | api/health-ready | absent→pass",
				"note | context | models | seed-cnn@fp32 seed-rnn@fp32 seed-transformer@fp32→seed-cnn@fp32 seed-rnn@fp32",
			},
		},
		{
			name: "a level is no longer requested", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				r.RequestedLevels = []spec.Level{spec.Core, spec.Safety}
				r.Derive()
			},
			want: []string{"regression | level | performance | fail→not requested"},
		},
		{
			name: "a passing level is no longer requested, and one is added", base: diffPassingCore,
			edit: func(t *testing.T, r *conformance.Report) {
				r.RequestedLevels = []spec.Level{spec.Safety}
				r.Derive()
			},
			want: []string{
				"regression | verdict | pass→fail",
				"regression | level | core | pass→not requested",
				"note | level | safety | not requested→not-run",
			},
		},
		{
			name: "a claimable level is not", base: diffPassingCore,
			old: func(t *testing.T, r *conformance.Report) {
				r.Claim = []conformance.LevelClaim{{Level: spec.Core, Claimable: true, Reasons: []string{}}}
			},
			edit: func(t *testing.T, r *conformance.Report) {
				r.Claim = []conformance.LevelClaim{{Level: spec.Core, Reasons: []string{"rule 3: MUST check api/x was not checked", "rule 5: y"}}}
			},
			want:        []string{"regression | claim | core | claimable→not claimable"},
			wantMessage: "rule 3: MUST check api/x was not checked (and 1 more reason)",
		},
		{
			name: "a SHOULD check newly fails", base: diffFixture,
			old: func(t *testing.T, r *conformance.Report) {
				c := diffCheck(t, r, audit)
				c.Status, c.Evidence.Performance[0].Status = spec.Pass, spec.Pass
				r.Derive()
			},
			edit: func(t *testing.T, r *conformance.Report) {
				c := diffCheck(t, r, audit)
				c.Status, c.Evidence.Performance[0].Status = spec.Fail, spec.Fail
				c.Message = "seed-cnn@fp32: p90 ratio repeated/distinct 0.216 < 0.900"
				r.Derive()
			},
			want: []string{
				"regression | warning | performance/cache-audit | pass→fail",
				"regression | scenario | performance/cache-audit | seed-cnn@fp32 | pass→fail",
			},
			wantMessage: "seed-cnn@fp32: p90 ratio repeated/distinct 0.216 < 0.900",
		},
		{
			name: "a percentile grows by 5%", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				l := &diffScenario(t, r, srv).Result.Latency
				l.P90 *= 1.05
			},
		},
		{
			name: "a percentile grows by 15%, another shrinks by 15%", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				l := &diffScenario(t, r, srv).Result.Latency
				l.P90 *= 1.15
				l.P50 *= 0.85
			},
			want: []string{
				"regression | latency | performance/server | seed-rnn@fp32 | p90",
				"improvement | latency | performance/server | seed-rnn@fp32 | p50",
			},
		},
		{
			name: "a percentile grows by 15% under a 20% tolerance", base: diffFixture,
			o: &DiffOptions{LatencyTolerance: 0.2, NumericTolerance: 0.25, NumericFloor: 0.05},
			edit: func(t *testing.T, r *conformance.Report) {
				diffScenario(t, r, srv).Result.Latency.P90 *= 1.15
			},
		},
		{
			name: "a finite percentile becomes +Inf, the judged figure grows", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				s := diffScenario(t, r, srv)
				s.Result.Latency.P999 = numerics.Float(math.Inf(1))
				s.Measured.Value *= 1.5
			},
			want: []string{
				"regression | latency | performance/server | seed-rnn@fp32 | p99.9",
				"regression | latency | performance/server | seed-rnn@fp32 | p99",
			},
		},
		{
			name: "+Inf becomes finite, and a judged figure no longer measured", base: diffFixture,
			old: func(t *testing.T, r *conformance.Report) {
				diffScenario(t, r, single).Result.Latency.Max = numerics.Float(math.Inf(1))
				diffScenario(t, r, single).Result.Latency.P999 = numerics.Float(math.Inf(1))
			},
			edit: func(t *testing.T, r *conformance.Report) {
				s := diffScenario(t, r, single)
				s.Result.Latency.P999 = 18.143
				s.Measured.Value = numerics.Float(math.NaN())
			},
			want: []string{
				"regression | latency | performance/single-stream | seed-cnn@fp32 | early-stopping bound of p90 at 99% confidence",
				"improvement | latency | performance/single-stream | seed-cnn@fp32 | p99.9",
			},
		},
		{
			name: "the judged figures have different bases", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				diffScenario(t, r, single).Basis = "p90"
			},
			want: []string{"note | latency | performance/single-stream | seed-cnn@fp32 | judged figure | early-stopping bound of p90 at 99% confidence (ms)→p90 (ms)"},
		},
		{
			name: "the cache audit's ratio falls by 30%, not by 7%", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				diffScenario(t, r, audit).Measured.Value *= 0.7
				diffScenario(t, r, srv).Measured.Value *= 0.93
			},
			want: []string{"regression | ratio | performance/cache-audit | seed-cnn@fp32 | p90 ratio repeated/distinct"},
		},
		{
			name: "a throughput falls and another rises", base: diffFixture,
			old: func(t *testing.T, r *conformance.Report) {
				for _, id := range []string{srv, single} {
					s := diffScenario(t, r, id)
					s.Measured, s.Basis = conformance.Measure{Value: 100, Unit: conformance.UnitSamplesPerSecond}, "throughput"
				}
			},
			edit: func(t *testing.T, r *conformance.Report) {
				for id, v := range map[string]numerics.Float{srv: 85, single: 120} {
					s := diffScenario(t, r, id)
					s.Measured, s.Basis = conformance.Measure{Value: v, Unit: conformance.UnitSamplesPerSecond}, "throughput"
				}
			},
			want: []string{
				"regression | throughput | performance/server | seed-rnn@fp32 | throughput",
				"improvement | throughput | performance/single-stream | seed-cnn@fp32 | throughput",
			},
		},
		{
			name: "shares of the allowance grow", base: diffPassingCore,
			old: func(t *testing.T, r *conformance.Report) {
				diffCheck(t, r, golden).Evidence.Cases[0].Outputs[0].WorstRatio = 0.1
				diffCheck(t, r, golden).Evidence.Cases[2].Outputs[0].WorstRatio = 0
				diffCheck(t, r, golden).Evidence.Cases[3].Outputs[0].WorstRatio = 0.4
			},
			edit: func(t *testing.T, r *conformance.Report) {
				cs := diffCheck(t, r, golden).Evidence.Cases
				cs[0].Outputs[0].WorstRatio = 0.6  // 0.1 → 0.6: a regression
				cs[1].Outputs[1].WorstRatio = 0.12 // 0.1 → 0.12: within the tolerance
				cs[2].Outputs[0].WorstRatio = 1e-9 // 0 → 1e-9: within the floor
				cs[3].Outputs[0].WorstRatio = 0.1  // 0.4 → 0.1: an improvement
			},
			want: []string{
				"regression | numerics | numerics/golden | " + cnn0 + ", output logits | worst share of allowance",
				"improvement | numerics | numerics/golden | seed-rnn@fp32, set seed-rnn/fp32 (cpu), case case-001, output logits | worst share of allowance",
			},
		},
		{
			name: "an output becomes non-finite", base: diffPassingCore,
			edit: func(t *testing.T, r *conformance.Report) {
				diffCheck(t, r, golden).Evidence.Cases[1].Outputs[0].WorstRatio = math.NaN()
			},
			want: []string{"regression | numerics | numerics/golden | " + cnn1 + ", output logits | worst share of allowance"},
		},
		{
			name: "a case newly fails, another passes now", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				cs := diffCheck(t, r, golden).Evidence.Cases
				cs[0].Status = spec.Pass
				cs[2].Status, cs[2].Message = spec.Fail, "output logits: 1 of 2 elements outside class fp32"
				cs[2].Outputs[0].WorstRatio = 3
			},
			want: []string{
				"regression | case | numerics/golden | " + rnn0 + " | worst share of allowance | pass→fail",
				"improvement | case | numerics/golden | " + cnn0 + " | worst share of allowance | fail→pass",
			},
			wantMessage: "output logits: 1 of 2 elements outside class fp32",
		},
		{
			name: "a failing case the old report lacks", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				c := diffCheck(t, r, golden)
				extra := c.Evidence.Cases[2]
				extra.Case, extra.Status, extra.Message = "case-002", spec.Fail, "output logits: 2 of 2 elements outside class fp32"
				other := extra
				other.Model, other.Case = "seed-other", "case-000"
				c.Evidence.Cases = append(c.Evidence.Cases, extra, other)
				c.Evidence.Cases = slices.Delete(c.Evidence.Cases, 4, 5)
			},
			want: []string{
				"regression | case | numerics/golden | seed-rnn@fp32, set seed-rnn/fp32 (cpu), case case-002 | worst share of allowance | absent→fail",
				"note | case | numerics/golden | 1→absent",
				"note | case | numerics/golden | absent→1",
				"note | context | models | seed-cnn@fp32 seed-rnn@fp32 seed-transformer@fp32→seed-cnn@fp32 seed-other@fp32 seed-rnn@fp32 seed-transformer@fp32",
			},
		},
		{
			name: "facts of the runs differ", base: diffFixture,
			edit: func(t *testing.T, r *conformance.Report) {
				r.Target = "https://other.example"
				r.Profile.SHA256 = strings.Repeat("cd", 32)
				r.Seed = "7"
				r.Tool.Version = "1.2.4"
				r.ModelCard = nil
			},
			want: []string{
				"note | context | tool version | 1.2.3→1.2.4",
				"note | context | target | http://127.0.0.1:8000→https://other.example",
				"note | context | profile sha256 | " + strings.Repeat("ab", 32) + "→" + strings.Repeat("cd", 32),
				"note | context | model card sha256 | " + strings.Repeat("cd", 32) + "→absent",
				"note | context | seed | 18446744073709551615→7",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.base(t)
			if tc.old != nil {
				tc.old(t, before)
			}
			after := diffClone(t, before)
			tc.edit(t, after)
			o := DefaultDiffOptions()
			if tc.o != nil {
				o = *tc.o
			}
			c, err := Compare(before, after, o)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(c.Changes))
			for i, ch := range c.Changes {
				got[i] = diffKey(ch)
			}
			if tc.want == nil {
				tc.want = []string{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			wantRegressed := slices.ContainsFunc(tc.want, func(s string) bool { return strings.HasPrefix(s, "regression") })
			if c.Regressed() != wantRegressed {
				t.Errorf("Regressed() = %v, want %v", c.Regressed(), wantRegressed)
			}
			if n := c.Regressions + c.Improvements + c.Notes; n != len(c.Changes) {
				t.Errorf("the counts add up to %d, want %d", n, len(c.Changes))
			}
			if tc.wantMessage != "" && (len(c.Changes) == 0 || c.Changes[0].Message != tc.wantMessage) {
				t.Errorf("the first change's message is not %q: %+v", tc.wantMessage, c.Changes)
			}
		})
	}
}

func TestDiffCheckChangeNamesRequirementsAndMessage(t *testing.T) {
	before := diffPassingCore(t)
	after := diffClone(t, before)
	g := diffCheck(t, after, "numerics/golden")
	g.Status, g.Message = spec.Error, "the target stopped answering"
	after.Derive()
	c, err := Compare(before, after, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(c.Changes, func(ch Change) bool { return ch.Kind == ChangeCheck })
	if i < 0 {
		t.Fatalf("no check change: %+v", c.Changes)
	}
	want := Change{Effect: Regression, Kind: ChangeCheck, Check: "numerics/golden", Requirements: []string{"NUM-GOLDEN"},
		Old: "pass", New: "error", Message: "the target stopped answering"}
	if diff := cmp.Diff(want, c.Changes[i]); diff != "" {
		t.Errorf("check change (-want +got):\n%s", diff)
	}
}

func TestDiffFigureValues(t *testing.T) {
	before := diffFixture(t)
	after := diffClone(t, before)
	diffScenario(t, after, srv).Result.Latency.P90 = 3.6252 // 3.021 ms +20%
	diffScenario(t, after, srv).Result.Latency.P99 = numerics.Float(math.Inf(1))
	c, err := Compare(before, after, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Changes) != 2 {
		t.Fatalf("want 2 changes, got %+v", c.Changes)
	}
	p90, p99 := c.Changes[0], c.Changes[1]
	if p90.Figure != "p90" || p90.OldValue == nil || *p90.OldValue != (conformance.Measure{Value: 3.021, Unit: "ms"}) ||
		*p90.NewValue != (conformance.Measure{Value: 3.6252, Unit: "ms"}) || p90.Growth == nil || math.Abs(float64(*p90.Growth)-0.2) > 1e-9 {
		t.Errorf("p90 change %+v (growth %v)", p90, p90.Growth)
	}
	if p99.Figure != "p99" || !math.IsInf(float64(p99.NewValue.Value), 1) || p99.Growth != nil {
		t.Errorf("p99 change %+v, want a change to +Inf without a growth", p99)
	}
}

func TestDiffRefuses(t *testing.T) {
	r := diffFixture(t)
	other := diffClone(t, r)
	other.SpecVersion = "v2"
	if _, err := Compare(r, other, DefaultDiffOptions()); !errors.Is(err, ErrSpecVersion) {
		t.Errorf("different spec versions: %v, want ErrSpecVersion", err)
	}
	for _, o := range []DiffOptions{
		{LatencyTolerance: -0.1},
		{NumericTolerance: math.NaN()},
		{NumericFloor: math.Inf(1)},
	} {
		if _, err := Compare(r, r, o); err == nil {
			t.Errorf("options %+v: no error", o)
		}
	}
	if err := DefaultDiffOptions().Validate(); err != nil {
		t.Errorf("the default options: %v", err)
	}
}

func TestDiffRendering(t *testing.T) {
	before := diffPassingCore(t)
	after := diffClone(t, before)
	diffCheck(t, after, "api/health-live").Status = spec.Fail
	diffCheck(t, after, "numerics/golden").Evidence.Cases[3].Outputs[0].WorstRatio = 0.01
	after.Seed = "9"
	after.Derive()
	c, err := Compare(before, after, DefaultDiffOptions())
	if err != nil {
		t.Fatal(err)
	}
	c.Old, c.New = "a/report.json", "b/report.json"
	var b bytes.Buffer
	if err := WriteDiff(&b, c); err != nil {
		t.Fatal(err)
	}
	want := `report diff: a/report.json → b/report.json (latency tolerance 10%, numeric tolerance 25% above 0.05 of the allowance)
regressions:
  verdict: pass → fail
  level core: pass → fail
  check api/health-live (OIP-HEALTH-LIVE): pass → fail: GET /v2/health/live answered 200
improvements:
  numerics numerics/golden (NUM-GOLDEN) seed-rnn@fp32, set seed-rnn/fp32 (cpu), case case-001, output logits worst share of allowance: 0.1 → 0.01 (-90.0%)
notes:
  context seed: 18446744073709551615 → 9: the runs drew different inputs
3 regressions, 1 improvement, 1 note
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("rendering (-want +got):\n%s", diff)
	}

	j, err := DiffJSON(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatalf("%v\n%s", err, j)
	}
	if diff := cmp.Diff(c, &back); diff != "" {
		t.Errorf("the JSON form does not read back (-want +got):\n%s", diff)
	}
	if back.Kind != DiffKind || back.Regressions != 3 || back.Changes[0].Effect != Regression {
		t.Errorf("JSON form %s", j)
	}
}
