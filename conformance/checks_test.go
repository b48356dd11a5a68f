package conformance

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
}

// TestClaimedLevelsAreCovered fails when a requirement of the catalog, at a
// level this build has checks for (and so lets a profile request), is
// cited by no check: a verdict on that level would claim what was never
// tested.
func TestClaimedLevelsAreCovered(t *testing.T) {
	if got := missingChecks(checks); len(got) > 0 {
		t.Errorf("requirements of levels this build checks have no check: %v", got)
	}
	// The rule must bite: a table without the NUM-LIVE check misses it.
	cut := slices.DeleteFunc(slices.Clone(checks), func(c check) bool { return slices.Contains(c.Requirements, "NUM-LIVE") })
	if got := missingChecks(cut); !slices.Equal(got, []string{"NUM-LIVE"}) {
		t.Errorf("a table without numerics/live misses %v, want [NUM-LIVE]", got)
	}
}

// missingChecks lists the catalog requirements, at levels the table has
// checks for, that no check of the table cites.
func missingChecks(table []check) []string {
	var out []string
	for _, req := range spec.MustLoad().Requirements {
		if !slices.ContainsFunc(table, func(c check) bool { return c.Level == req.Level }) {
			continue
		}
		if !slices.ContainsFunc(table, func(c check) bool { return slices.Contains(c.Requirements, req.ID) }) {
			out = append(out, req.ID)
		}
	}
	return out
}

func TestLevelVerdicts(t *testing.T) {
	// r is a result of a MUST check of level l.
	must := map[spec.Level]string{spec.Core: "NUM-GOLDEN", spec.Performance: "LAT-SERVER", spec.Safety: "SAFE-OVERSIZE"}
	r := func(l spec.Level, s spec.Status) Result {
		return Result{Level: l, Status: s, Requirements: []string{must[l]}}
	}
	should := Result{Level: spec.Performance, Status: spec.Fail, Requirements: []string{"LAT-CACHE-AUDIT"}}
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
		{"a SHOULD failure is a warning", []Result{should, r(spec.Performance, spec.Pass)}, map[spec.Level]spec.Verdict{spec.Core: spec.VerdictNotRun, spec.Performance: spec.VerdictPass, spec.Safety: spec.VerdictNotRun}},
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
	c, err := spec.ModelContract("seed-transformer", "fp32")
	if err != nil {
		t.Fatal(err)
	}
	md := oip.ModelMetadata{
		Inputs:  []oip.TensorMetadata{{Name: "input_ids", Datatype: "INT32", Shape: []int64{-1, -1}}, {Name: "extra", Datatype: "FP32", Shape: []int64{1}}},
		Outputs: []oip.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{-1, 64, 100}}, {Name: "hidden", Datatype: "FP32", Shape: []int64{-1, -1, 32}}},
	}
	fails, extra := contractDiff(c, md)
	want := []string{
		`input "input_ids": datatype INT32, want INT64`,
		`optional input "attention_mask" of the seed-transformer contract is not declared`,
		`input "extra" is not part of the seed-transformer contract`,
		`output "logits": shape [-1 64 100], want [-1 -1 100] (-1 is a variable dimension)`,
	}
	if strings.Join(fails, "\n") != strings.Join(want, "\n") {
		t.Errorf("contractDiff =\n%s\nwant\n%s", strings.Join(fails, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(extra, []string{`"hidden"`}) {
		t.Errorf("outputs beyond the contract %v, want [\"hidden\"] (allowed and recorded)", extra)
	}
	md.Inputs = []oip.TensorMetadata{{Name: "input_ids", Datatype: "INT64", Shape: []int64{-1, -1}}, {Name: "attention_mask", Datatype: "INT64", Shape: []int64{-1, -1}}}
	md.Outputs = []oip.TensorMetadata{{Name: "logits", Datatype: "FP32", Shape: []int64{-1, -1, 100}}}
	if fails, extra := contractDiff(c, md); len(fails) != 0 || len(extra) != 0 {
		t.Errorf("the contract itself: %v, %v", fails, extra)
	}
	md.Outputs = nil
	if fails, _ := contractDiff(c, md); len(fails) != 1 || !strings.Contains(fails[0], `output "logits" of the seed-transformer contract is not declared`) {
		t.Errorf("missing output: %v", fails)
	}
}

// TestRunCheckRecovers makes a panicking check an error result.
func TestRunCheckRecovers(t *testing.T) {
	e := &env{c: &client{now: fixedClock(time.Millisecond)}}
	ch := check{ID: "x/boom", Requirements: []string{"NUM-GOLDEN"}, Level: spec.Core, Title: "boom",
		Run: func(context.Context, *env) Result { panic("boom") }}
	r := runCheck(context.Background(), ch, e, 0)
	if r.Status != spec.Error || !strings.Contains(r.Message, "boom") || r.ID != "x/boom" || r.Duration.Value != 1 {
		t.Errorf("result %+v", r)
	}
	ch.Run = func(context.Context, *env) Result { return Result{Status: spec.Pass, Message: "line one\nline two"} }
	if r := runCheck(context.Background(), ch, e, 0); r.Message != "line one line two" {
		t.Errorf("message %q is not one line", r.Message)
	}
}

// TestClaims computes the claim rules over results made from the check
// table: every check passing is claimable; a table lacking a MUST
// requirement, a failure, a not-checked skip or a missing tool version is
// not, and the reasons name what is missing.
func TestClaims(t *testing.T) {
	report := func(table []check, edit func(*Result)) *Report {
		rep := &Report{SpecVersion: spec.Version, Tool: Tool{Name: ToolName, Version: "1.0"}, Profile: ProfileRef{SHA256: strings.Repeat("a", 64)},
			RequestedLevels: []spec.Level{spec.Core}}
		for _, c := range table {
			res := Result{ID: c.ID, Requirements: c.Requirements, Level: c.Level, Status: spec.Pass}
			if edit != nil {
				edit(&res)
			}
			rep.Checks = append(rep.Checks, res)
		}
		rep.Levels = levelVerdicts(rep.Checks)
		return rep
	}
	tests := []struct {
		name    string
		table   []check
		edit    func(*Result)
		tool    string
		reasons []string // empty: claimable
	}{
		{name: "every check passed", table: checks},
		{name: "binary data not applicable", table: checks, edit: func(r *Result) {
			if r.ID == "api/binary-data" {
				r.Status, r.Message = spec.Skip, spec.NotApplicablePrefix+"the server metadata's extensions [] do not contain binary_tensor_data"
			}
		}},
		{name: "a table without NUM-LIVE", table: slices.DeleteFunc(slices.Clone(checks), func(c check) bool { return c.ID == "numerics/live" }),
			reasons: []string{"rule 2: MUST requirement NUM-LIVE is not covered by any check of the run"}},
		{name: "not checked", table: checks, edit: func(r *Result) {
			if r.ID == "numerics/live" {
				r.Status, r.Message = spec.Skip, "not checked: no reference oracle"
			}
		}, reasons: []string{"rule 2: MUST requirement NUM-LIVE is cited only by checks that did not pass (numerics/live skip)", "rule 3: MUST check numerics/live was not checked: not checked: no reference oracle"}},
		{name: "not applicable without an Applies-when", table: checks, edit: func(r *Result) {
			if r.ID == "numerics/top1" {
				r.Status, r.Message = spec.Skip, spec.NotApplicablePrefix+"no reason the spec allows"
			}
		}, reasons: []string{"rule 2: MUST requirement NUM-TOP1 is cited only by checks that did not pass (numerics/top1 skip)"}},
		{name: "a failure", table: checks, edit: func(r *Result) {
			if r.ID == "api/health-live" {
				r.Status = spec.Fail
			}
		}, reasons: []string{"rule 1: the verdict of level core is fail, not pass", "rule 2: MUST requirement OIP-HEALTH-LIVE is cited only by checks that did not pass (api/health-live fail)"}},
		{name: "no tool version", table: checks, tool: "unknown", reasons: []string{"rule 5: the report names no tool version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := report(tt.table, tt.edit)
			if tt.tool != "" {
				rep.Tool.Version = tt.tool
			}
			got := claims(rep)
			if len(got) != 1 || got[0].Level != spec.Core {
				t.Fatalf("claims %+v", got)
			}
			if got[0].Claimable != (len(tt.reasons) == 0) || !slices.Equal(got[0].Reasons, tt.reasons) && len(tt.reasons)+len(got[0].Reasons) > 0 {
				t.Errorf("claimable %v, reasons\n%s\nwant\n%s", got[0].Claimable, strings.Join(got[0].Reasons, "\n"), strings.Join(tt.reasons, "\n"))
			}
			if tt.name == "a table without NUM-LIVE" {
				if u := uncovered(rep.RequestedLevels, rep.Checks); !slices.Equal(u[spec.Core], []string{"NUM-LIVE"}) {
					t.Errorf("uncovered %v, want [NUM-LIVE]", u)
				}
			}
		})
	}
}

// TestErrorFormatScan judges error responses as they arrive: a JSON
// {"error"} passes, anything else is kept with its exchange, a body cut off
// at the limit is not judged, and past maxErrorFormatFindings only a count
// is kept.
func TestErrorFormatScan(t *testing.T) {
	resp := func(ct, body string) *response {
		h := http.Header{}
		h.Set("Content-Type", ct)
		return &response{ex: Exchange{Method: "GET", Path: "/v2/models/x", StatusCode: 404, ContentType: ct}, status: 404, header: h, body: []byte(body)}
	}
	var s errorFormatScan
	s.scan(resp("application/json", `{"error":"no model x"}`))
	s.scan(resp("text/plain", "no model x"))
	s.scan(resp("application/json", `{"error":""}`))
	cut := resp("text/plain", "…")
	cut.overLimit = true
	s.scan(cut)
	if s.examined != 3 || len(s.exchanges) != 2 || len(s.failures) != 2 || s.more != 0 {
		t.Fatalf("scan %+v, want 3 examined and 2 kept", s)
	}
	if !strings.Contains(s.failures[0], `Content-Type "text/plain"`) || !strings.Contains(s.failures[1], "breaks the oip-error schema at /error") {
		t.Errorf("failures %q", s.failures)
	}
	for i := 0; i < maxErrorFormatFindings; i++ {
		s.scan(resp("text/plain", "no"))
	}
	if len(s.exchanges) != maxErrorFormatFindings || s.more != 2 {
		t.Errorf("%d kept, %d more; want %d kept and 2 more", len(s.exchanges), s.more, maxErrorFormatFindings)
	}
}
