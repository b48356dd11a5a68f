package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// progressLine is the line `run` writes on stderr, when it is not a
// terminal, for each finished check.
var progressLine = regexp.MustCompile(`^\[(\d+)/(\d+)\] (\S+) (pass|fail|skip|error) \d+ ms$`)

// TestRunProgress: without a terminal, run writes one line per finished
// check on stderr, in the report's order; --quiet silences them; stdout
// holds the summary either way.
func TestRunProgress(t *testing.T) {
	ts := runReferenceServer(t, nil)
	profile := runSmallProfile(t, 1)
	tests := []struct {
		name  string
		flags []string
		lines bool
	}{
		{"progress lines", nil, true},
		{"quiet", []string{"--quiet"}, false},
		{"quiet, short flag", []string{"-q"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"run", "--target", ts.URL, "--out", out, "--profile", profile, "--seed", "1"}, tt.flags...)
			code, stdout, stderr := runCLI(t, args...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "verdict: CONFORMANT at core") || strings.Contains(stdout, "[1/") {
				t.Errorf("stdout:\n%s", stdout)
			}
			if !tt.lines {
				if stderr != "" {
					t.Errorf("stderr is not empty:\n%s", stderr)
				}
				return
			}
			rep := runReadReport(t, out)
			checkProgressLines(t, stderr, rep)
		})
	}
}

// checkProgressLines checks that stderr holds one progress line per check
// of rep, in order, with its status.
func checkProgressLines(t *testing.T, stderr string, rep conformance.Report) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != len(rep.Checks) {
		t.Fatalf("%d lines on stderr for %d checks:\n%s", len(lines), len(rep.Checks), stderr)
	}
	for i, line := range lines {
		m := progressLine.FindStringSubmatch(line)
		c := rep.Checks[i]
		if m == nil || m[1] != fmt.Sprint(i+1) || m[2] != fmt.Sprint(len(rep.Checks)) || m[3] != c.ID || m[4] != string(c.Status) {
			t.Errorf("line %d is %q, want [%d/%d] %s %s N ms", i, line, i+1, len(rep.Checks), c.ID, c.Status)
		}
	}
}

// TestProgressTerminal: on a terminal the progress is a bar naming the
// running check and the count, erased at the end.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, tty: true, totals: map[string]int{}}
	ids := []string{"api/health-live", "numerics/golden"}
	for i, id := range ids {
		ev := conformance.ProgressEvent{Index: i + 1, Total: len(ids), ID: id}
		p.event("", ev)
		ev.Result = &conformance.Result{ID: id, Status: spec.Pass}
		p.event("", ev)
	}
	p.done()
	out := b.String()
	for _, want := range []string{"api/health-live", "numerics/golden", "(0/2)", "(1/2)", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bar lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, "[1/2] api/health-live pass") {
		t.Errorf("a terminal got plain lines: %q", out)
	}
	if !strings.HasSuffix(strings.TrimRight(out, " "), "\r") {
		t.Errorf("the bar is not erased at the end: %q", out)
	}
	var nilProgress *progress
	if nilProgress.hook("") != nil || newProgress(&b, true) != nil {
		t.Error("a quiet run has a progress hook")
	}
	nilProgress.done()
	if isTerminal(&b) || terminalWidth(&b) != 0 || terminalWidth(nil) != 0 {
		t.Error("a buffer is taken for a terminal")
	}

	// Two runs at once share one bar, which counts the checks of both
	// and names the run of the check it shows.
	b.Reset()
	p = &progress{w: &b, tty: true, totals: map[string]int{}}
	for _, label := range []string{"rest", "grpc"} {
		ev := conformance.ProgressEvent{Index: 1, Total: 2, ID: "api/health-live"}
		p.event(label, ev)
		ev.Result = &conformance.Result{ID: ev.ID, Status: spec.Pass}
		p.event(label, ev)
	}
	p.done()
	for _, want := range []string{"rest api/health-live", "grpc api/health-live", "(2/4)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the shared bar lacks %q: %q", want, b.String())
		}
	}
}
