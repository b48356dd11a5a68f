package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// sample is a report with one passing, one failing and one skipped check,
// a non-finite figure and a long message.
func sample() *conformance.Report {
	start := time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)
	long := "seed-cnn@fp32 case case-003 (golden set seed-cnn/fp32 (cpu)) output logits: 1 of 20 elements outside class fp32 (rtol 1.0e-04, atol 1.0e-05); worst at index [0 3] (flat 3): got 0.8, want 0.3"
	return &conformance.Report{
		Kind: conformance.ReportKind, SpecVersion: spec.Version,
		Tool:            conformance.Tool{Name: "aiconform", Version: "1.2.3"},
		Target:          "http://127.0.0.1:8000",
		Profile:         conformance.ProfileRef{Name: "reference", Source: "builtin", SHA256: strings.Repeat("ab", 32)},
		Goldens:         conformance.DocumentRef{Source: "builtin", SHA256: spec.PublishedGoldenManifest().SHA256},
		StartTime:       start,
		EndTime:         start.Add(1500 * time.Millisecond),
		Duration:        conformance.Millis(1500 * time.Millisecond),
		RequestedLevels: []spec.Level{spec.Core},
		Levels:          map[spec.Level]spec.Verdict{spec.Core: spec.VerdictFail, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun},
		Verdict:         spec.VerdictFail,
		Summary:         conformance.Summary{Total: 3, Pass: 1, Fail: 1, Skip: 1},
		Checks: []conformance.Result{
			{ID: "api/health-live", Requirements: []string{"OIP-HEALTH-LIVE"}, Level: spec.Core, Status: spec.Pass,
				Message: "GET /v2/health/live answered 200", Duration: conformance.Millis(2 * time.Millisecond),
				Evidence: conformance.Evidence{Exchanges: []conformance.Exchange{{Method: "GET", Path: "/v2/health/live", StatusCode: 200,
					ResponseBytes: conformance.Bytes(0), Duration: conformance.Millis(time.Millisecond)}}}},
			{ID: "numerics/golden", Requirements: []string{"NUM-GOLDEN"}, Level: spec.Core, Status: spec.Fail, Message: long,
				Duration: conformance.Millis(40 * time.Millisecond),
				Evidence: conformance.Evidence{
					Figures: map[string]conformance.Measure{"worstToleranceRatio": {Value: numerics.Float(math.Inf(1)), Unit: "1"}},
					Cases: []conformance.CaseEvidence{{Model: "seed-cnn", Version: "fp32", Set: "seed-cnn/fp32 (cpu)", Case: "case-003", Status: spec.Fail,
						Tolerance: numerics.Tolerance{Class: "fp32", RTol: 1e-4, ATol: 1e-5},
						Outputs: []spec.OutputDiff{{Name: "logits", Diff: numerics.Diff{Elements: 20, Violations: 1, MaxAbs: 0.5,
							MaxRel: math.Inf(1), MaxULP: math.MaxUint64, Worst: 3, WorstIndex: []int64{0, 3}, WorstGot: 0.8, WorstWant: 0.3, WorstRatio: 5000}}}}}}},
			{ID: "api/infer-id-echo", Requirements: []string{"OIP-INFER-ID-ECHO"}, Level: spec.Core, Status: spec.Skip,
				Message: "no inference succeeded, so the id echo could not be judged", Duration: conformance.Millis(0)},
		},
	}
}

func TestWriteJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "nested")
	rep := sample()
	p, err := WriteJSON(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, JSONFile) {
		t.Errorf("path %s", p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument(p, b)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := schemas.Validate(conformance.ReportKind, "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("report.json breaks the report schema: %s", v)
	}
	if k, _ := schemas.KindOf(doc); k != "report" {
		t.Errorf("kind %q", k)
	}
	var back conformance.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// +Inf survives the round trip as a string.
	if !math.IsInf(float64(back.Checks[1].Evidence.Cases[0].Outputs[0].MaxRel), 1) {
		t.Errorf("maxRelError %v", back.Checks[1].Evidence.Cases[0].Outputs[0].MaxRel)
	}
	if d := cmp.Diff(rep.Checks[0], back.Checks[0]); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if !strings.Contains(string(b), `"startTime": "2025-03-04T05:06:07.89Z"`) {
		t.Errorf("startTime is not RFC 3339:\n%s", b[:300])
	}

	// Rewriting replaces the file and leaves no temporary file behind.
	rep.Target = "http://example.com"
	if _, err := WriteJSON(dir, rep); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != JSONFile {
		t.Errorf("directory holds %v", entries)
	}
	b, _ = os.ReadFile(p)
	if !strings.Contains(string(b), "http://example.com") {
		t.Error("the report was not replaced")
	}
}

func TestWriteJSONUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteJSON(filepath.Join(f, "dir"), sample()); err == nil {
		t.Error("writing below a file succeeded")
	}
}

func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := Summary(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"aiconform 1.2.3 · spec v1 · target http://127.0.0.1:8000 · profile reference",
		"CHECK", "REQUIREMENTS", "STATUS", "MESSAGE",
		"api/health-live", "OIP-HEALTH-LIVE", "GET /v2/health/live answered 200",
		"numerics/golden", "NUM-GOLDEN", "fail", "seed-cnn@fp32 case case-003",
		"api/infer-id-echo", "skip",
		"3 checks: 1 pass, 1 fail, 1 skip, 0 error · 1500 ms",
		"levels: core fail · performance not-run (not requested) · safety not-run (not requested)",
		"verdict: NOT CONFORMANT at core",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The long message is cut in the table and shown whole below it.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "│ numerics/golden") && (strings.Contains(line, "want 0.3") || !strings.Contains(line, "…")) {
			t.Errorf("the long message is not truncated in the table: %q", line)
		}
	}
	if !strings.Contains(out, "\nfail numerics/golden: seed-cnn@fp32 case case-003 (golden set seed-cnn/fp32 (cpu)) output logits: 1 of 20 elements outside class fp32 (rtol 1.0e-04, atol 1.0e-05); worst at index [0 3] (flat 3): got 0.8, want 0.3\n") {
		t.Errorf("the failed check's whole message is missing:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "api/health-live") && strings.Count(line, "│")+strings.Count(line, "|") < 2 {
			t.Errorf("row is not a table row: %q", line)
		}
	}

	rep := sample()
	rep.Verdict, rep.Levels[spec.Core] = spec.VerdictPass, spec.VerdictPass
	b.Reset()
	if err := Summary(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "verdict: CONFORMANT at core") {
		t.Errorf("summary:\n%s", b.String())
	}
}

// TestSummaryWidth: every line of the table fits the width asked for,
// counted in terminal columns, and the whole message of each failed check
// still follows the table.
func TestSummaryWidth(t *testing.T) {
	rep := sample()
	wide := strings.TrimSpace(strings.Repeat("日本語のメッセージ ", 12))
	rep.Checks = append(rep.Checks,
		conformance.Result{ID: "numerics/batch-invariance", Requirements: []string{"NUM-BATCH-INVARIANCE"}, Level: spec.Core, Status: spec.Error,
			Message: "error: " + wide},
		conformance.Result{ID: "api/binary-data", Requirements: []string{"OIP-BINARY-DATA"}, Level: spec.Core, Status: spec.Pass,
			Message: strings.Repeat("a passing check with a long message ", 6)},
	)
	// CHECK 25, REQUIREMENTS 20, STATUS 6 and the borders take 64 columns;
	// the message column takes the rest, and the table is no wider than
	// its longest message needs.
	longest := 0
	for _, c := range rep.Checks {
		longest = max(longest, twwidth.Width(c.Message))
	}
	tests := []struct {
		name     string
		width    int
		msgWidth int
	}{
		{"unknown terminal", 0, DefaultWidth - 64},
		{"default", DefaultWidth, DefaultWidth - 64},
		{"narrow", 90, 90 - 64},
		{"too narrow for the other columns", 40, minMessageWidth},
		{"wide terminal", 200, 200 - 64},
		{"wider than every message", 400, 400 - 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := SummaryWidth(&b, rep, tt.width); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			maxLine := 64 + min(tt.msgWidth, longest)
			widest := 0
			for _, line := range strings.Split(out, "\n") {
				if !strings.ContainsAny(line, "│┌└├") {
					continue
				}
				w := twwidth.Width(line)
				widest = max(widest, w)
				if w > maxLine {
					t.Errorf("a table line is %d columns wide, want at most %d: %q", w, maxLine, line)
				}
			}
			if widest != maxLine {
				t.Errorf("the table is %d columns wide, want %d (message column %d):\n%s", widest, maxLine, tt.msgWidth, out)
			}
			for _, c := range rep.Checks {
				full := fmt.Sprintf("\n%s %s: %s\n", c.Status, c.ID, c.Message)
				cut := twwidth.Width(c.Message) > tt.msgWidth
				if failed := c.Status == spec.Fail || c.Status == spec.Error; failed && cut != strings.Contains(out, full) {
					t.Errorf("%s: message cut %v, whole message below the table %v:\n%s", c.ID, cut, !cut, out)
				}
				if c.Status == spec.Pass && strings.Contains(out, full) {
					t.Errorf("%s: a passing check's message repeated below the table:\n%s", c.ID, out)
				}
			}
		})
	}
	var b, def bytes.Buffer
	if err := Summary(&def, rep); err != nil {
		t.Fatal(err)
	}
	if err := SummaryWidth(&b, rep, DefaultWidth); err != nil {
		t.Fatal(err)
	}
	if b.String() != def.String() {
		t.Errorf("Summary differs from SummaryWidth at DefaultWidth:\n%s\n%s", def.String(), b.String())
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 3, "abc"}, {"abcd", 3, "ab…"}, {"ééééé", 4, "ééé…"}, {"", 2, ""}, {"日本語", 4, "日…"}, {"日本語", 6, "日本語"}} {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// TestParseMatchesNamesExactly: a member the schema lets through because
// its name is not a field's, though it folds to one ("ſent" to "sent"),
// is not read as that field: the report read is the document validated.
func TestParseMatchesNamesExactly(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "fixture.report.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
	}{
		{"load result", `"sent": 47,`, `"sent": 47, "ſent": 999,`},
		{"distribution", `"count": 47,`, `"count": 47, "COUNT": 999,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(fixture, []byte(tt.old)) {
				t.Fatalf("the fixture has no %s", tt.old)
			}
			doc := bytes.Replace(fixture, []byte(tt.old), []byte(tt.new), 1)
			rep, err := Parse(JSONFile, doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range rep.Checks {
				for _, p := range c.Evidence.Performance {
					if r := p.Result; r != nil && (r.Sent == 999 || r.Latency.Count == 999) {
						t.Fatalf("%s %s: a folded member was read: sent %d, latency count %d", c.ID, p.Scenario, r.Sent, r.Latency.Count)
					}
				}
			}
		})
	}
}
