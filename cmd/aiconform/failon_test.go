package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// TestRunFailOnAndWarnings: a profile with latency budgets but without the
// performance level is warned about on stderr, and --fail-on names the
// levels that decide the exit code.
func TestRunFailOnAndWarnings(t *testing.T) {
	ts := runReferenceServer(t, nil)
	profile := runSmallProfile(t, 2)
	f, err := os.OpenFile(profile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("latency:\n  singleStreamP90: 50ms\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", t.TempDir(), "--profile", profile, "--fail-on", "core")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	wantErr := "aiconform: warning: " + profile + ": /latency: latency budgets are declared but the levels [core] do not include performance"
	if !strings.Contains(stderr, wantErr) {
		t.Errorf("stderr lacks %q:\n%s", wantErr, stderr)
	}
	if want := "exit status decided by --fail-on core: pass\n"; !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
}

func TestRunFailOnUsage(t *testing.T) {
	// A profile that requests the core level alone (the built-in one
	// requests every level).
	coreOnly := filepath.Join("..", "..", "testdata", "profiles", "local-goldens.json")
	tests := []struct {
		name   string
		failOn string
		want   string
	}{
		{"unknown level", "fast", `aiconform: run: --fail-on: "fast" is not a level; want one or more of core,performance,safety`},
		{"level not requested", "core,performance", "aiconform: run: --fail-on: level performance is not requested by profile " + coreOnly + " (levels core), so it has no verdict to decide the exit code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := runCLI(t, "run", "--target", "http://127.0.0.1:1", "--out", out, "--profile", coreOnly, "--fail-on", tt.failOn)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q (stdout %q)", code, stderr, ExitUsage, tt.want, stdout)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("--out %s was left behind: %v", out, err)
			}
		})
	}
}

// TestFinishRunFailOn holds the exit code to the --fail-on levels of a
// report in which core passed and safety failed.
func TestFinishRunFailOn(t *testing.T) {
	tests := []struct {
		name   string
		failOn []spec.Level
		code   int
		line   string
	}{
		{"every requested level", nil, ExitFail, ""},
		{"core alone", []spec.Level{spec.Core}, ExitOK, "exit status decided by --fail-on core: pass\n"},
		{"safety alone", []spec.Level{spec.Safety}, ExitFail, "exit status decided by --fail-on safety: fail (safety fail)\n"},
		{"both", []spec.Level{spec.Core, spec.Safety}, ExitFail, "exit status decided by --fail-on core,safety: fail (safety fail)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &conformance.Report{
				Kind: conformance.ReportKind, SpecVersion: spec.Version,
				RequestedLevels: []spec.Level{spec.Core, spec.Safety},
				Levels:          map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictFail},
				Verdict:         spec.VerdictFail,
			}
			var out, errOut bytes.Buffer
			err := finishRun(Streams{Out: &out, Err: &errOut}, &reportOutput{Dir: t.TempDir(), Formats: []reports.Format{reports.FormatJSON}}, rep, nil, tt.failOn...)
			code := ExitOK
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.Code
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d (err %v)", code, tt.code, err)
			}
			if got := strings.Contains(out.String(), "exit status decided by"); got != (tt.line != "") || !strings.Contains(out.String(), tt.line) {
				t.Errorf("stdout lacks %q (or has an unexpected --fail-on line):\n%s", tt.line, out.String())
			}
		})
	}
}
