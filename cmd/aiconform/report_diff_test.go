package main

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/reference/serve/faults"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// diffFixture is the report fixture of package reports.
const diffFixture = "../../reports/testdata/fixture.report.json"

// diffWrite reads the fixture, edits it and writes it to a directory of
// its own; it returns the file.
func diffWrite(t *testing.T, edit func(*conformance.Report)) string {
	t.Helper()
	rep, err := reports.Read(diffFixture)
	if err != nil {
		t.Fatal(err)
	}
	edit(rep)
	p, err := reports.WriteJSON(t.TempDir(), rep)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportDiffArgs(t *testing.T) {
	same := diffWrite(t, func(*conformance.Report) {})
	flipped := diffWrite(t, func(r *conformance.Report) {
		r.Checks[0].Status, r.Checks[0].Message = spec.Fail, "GET /v2/health/live answered 503"
		r.Derive()
	})
	slower := diffWrite(t, func(r *conformance.Report) {
		for i := range r.Checks {
			for j := range r.Checks[i].Evidence.Performance {
				if res := r.Checks[i].Evidence.Performance[j].Result; res != nil {
					res.Latency.P99 *= 1.15
				}
			}
		}
	})
	invalid := filepath.Join(t.TempDir(), "report.json")
	b, err := os.ReadFile(diffFixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(invalid, []byte(strings.Replace(string(b), `"verdict": "fail"`, `"verdict": "maybe"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "none.json")
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    []string
		wantErr    []string
		notWantOut []string
	}{
		{"identical", []string{same, same}, ExitOK, []string{"0 regressions, 0 improvements, 0 notes"}, nil, []string{"regressions:"}},
		{"a check flips", []string{same, flipped}, ExitFail,
			[]string{"regressions:\n", "check api/health-live (OIP-HEALTH-LIVE): pass → fail: GET /v2/health/live answered 503", "1 regression, 0 improvements, 0 notes"}, nil, nil},
		{"the other way", []string{flipped, same}, ExitOK, []string{"improvements:\n", "check api/health-live (OIP-HEALTH-LIVE): fail → pass", "0 regressions, 1 improvement"}, nil, nil},
		{"p99 grows 15%", []string{same, slower}, ExitFail, []string{"latency performance/server (LAT-SERVER) seed-rnn@fp32 p99: 3.715 ms → 4.27225 ms (+15.0%)", "3 regressions"}, nil, nil},
		{"p99 grows 15%, tolerance 20%", []string{"--latency-tolerance", "20%", same, slower}, ExitOK, []string{"0 regressions"}, nil, nil},
		{"p99 grows 15%, tolerance 0.2", []string{"--latency-tolerance=0.2", same, slower}, ExitOK, []string{"0 regressions", "latency tolerance 20%"}, nil, nil},
		{"missing file", []string{same, missing}, ExitUsage, nil, []string{"NEW", missing}, nil},
		{"invalid report", []string{invalid, same}, ExitUsage, nil, []string{"OLD", invalid + ": /verdict"}, nil},
		{"one argument", []string{same}, ExitUsage, nil, []string{"accepts 2 arg(s)"}, nil},
	}
	for _, bad := range []string{"-5%", "-0.1", "abc", "10", "NaN", "Inf%", "", "10%%"} {
		tests = append(tests, struct {
			name       string
			args       []string
			code       int
			wantOut    []string
			wantErr    []string
			notWantOut []string
		}{"tolerance " + bad, []string{"--numeric-tolerance", bad, same, same}, ExitUsage, nil, []string{"--numeric-tolerance"}, nil})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"report", "diff"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWantOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestReportDiffJSON(t *testing.T) {
	same := diffWrite(t, func(*conformance.Report) {})
	flipped := diffWrite(t, func(r *conformance.Report) {
		r.Checks[0].Status = spec.Error
		r.Derive()
	})
	for _, tc := range []struct {
		old, new    string
		code, regrs int
	}{{same, same, ExitOK, 0}, {same, flipped, ExitFail, 1}} {
		code, out, errOut := runCLI(t, "report", "diff", "--json", tc.old, tc.new)
		if code != tc.code {
			t.Errorf("exit %d, want %d; stderr %s", code, tc.code, errOut)
		}
		var c reports.Comparison
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("--json output does not parse: %v\n%s", err, out)
		}
		if c.Kind != reports.DiffKind || c.Old != tc.old || c.New != tc.new || c.Regressions != tc.regrs || c.Options != reports.DefaultDiffOptions() {
			t.Errorf("comparison %+v", c)
		}
		if tc.regrs > 0 && (len(c.Changes) == 0 || c.Changes[0].Check != "api/health-live" || c.Changes[0].New != "error") {
			t.Errorf("changes %+v, want the check api/health-live first", c.Changes)
		}
	}
}

func TestReportDiffParseTolerance(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10%", 0.1, true}, {"0.1", 0.1, true}, {"0", 0, true}, {"1", 1, true}, {"250%", 2.5, true}, {" 5 % ", 0, false},
		{"12.5%", 0.125, true}, {"-1%", 0, false}, {"1.5", 0, false}, {"x", 0, false}, {"%", 0, false}, {"NaN%", 0, false}, {"+Inf", 0, false},
	}
	for _, tc := range tests {
		got, err := parseTolerance(tc.in)
		if (err == nil) != tc.ok || (tc.ok && math.Abs(got-tc.want) > 1e-15) {
			t.Errorf("parseTolerance(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// diffServer serves the built-in reference models with the named faults.
func diffServer(t *testing.T, names ...string) *httptest.Server {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := faults.Lookup(names...)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := faults.Options(fs...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(models, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestReportDiffEndToEnd runs the core level against the reference server
// plain, again plain, and with numeric-drift, and compares the reports.
func TestReportDiffEndToEnd(t *testing.T) {
	profile := runSmallProfile(t, 3)
	run := func(name string, want int, fault ...string) string {
		ts := diffServer(t, fault...)
		out := filepath.Join(t.TempDir(), name)
		code, stdout, stderr := runCLI(t, "run", "--quiet", "--seed", "42", "--target", ts.URL, "--out", out, "--profile", profile)
		if code != want {
			t.Fatalf("run %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, code, want, stdout, stderr)
		}
		return filepath.Join(out, reports.JSONFile)
	}
	plain, again, drift := run("plain", ExitOK), run("again", ExitOK), run("drift", ExitFail, "numeric-drift")

	for _, pair := range [][2]string{{plain, plain}, {plain, again}} {
		code, out, errOut := runCLI(t, "report", "diff", pair[0], pair[1])
		if code != ExitOK || !strings.Contains(out, "0 regressions") {
			t.Errorf("diff %s %s: exit %d, want 0\n%s%s", pair[0], pair[1], code, out, errOut)
		}
	}
	code, out, errOut := runCLI(t, "report", "diff", plain, drift)
	if code != ExitFail {
		t.Fatalf("diff plain drift: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"regressions:\n", "verdict: pass → fail", "level core: pass → fail", "check numerics/golden (NUM-GOLDEN): pass → fail", "case numerics/golden (NUM-GOLDEN) seed-cnn@fp32"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff plain drift lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "report", "diff", drift, plain)
	if code != ExitOK || !strings.Contains(out, "check numerics/golden (NUM-GOLDEN): fail → pass") {
		t.Errorf("diff drift plain: exit %d, want 0 with NUM-GOLDEN improving:\n%s", code, out)
	}
}
