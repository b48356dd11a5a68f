package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateProfileRules: validate holds a profile to the rules its
// schema cannot express, and warns about budgets no level checks.
func TestValidateProfileRules(t *testing.T) {
	const head = "kind: profile\nspecVersion: v1\nname: x\nlevels: [core]\nmodels:\n  - {name: a, reference: seed-cnn, referenceVersion: fp32}\n"
	tests := []struct {
		name, doc string
		code      int
		out, err  string
	}{
		{"declared conditional", head + "notApplicable:\n  - {requirement: SEC-TLS, justification: TLS ends at the load balancer}\n", ExitOK, ": ok (kind profile)", ""},
		{"declared unconditional", head + "notApplicable:\n  - {requirement: NUM-GOLDEN, justification: trust me}\n", ExitFail,
			": /notApplicable/0/requirement: MUST requirement NUM-GOLDEN always applies", ""},
		{"latency without performance", head + "latency: {singleStreamP90: 10ms}\n", ExitOK, ": ok (kind profile)",
			": /latency: latency budgets are declared but the levels [core] do not include performance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.yaml")
			if err := os.WriteFile(file, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "validate", file)
			if code != tt.code || !strings.Contains(stdout, file+tt.out) || (tt.err == "") != (stderr == "") || !strings.Contains(stderr, tt.err) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout %q, stderr %q", code, stdout, stderr, tt.code, tt.out, tt.err)
			}
		})
	}
}

// TestRunDeclaredNotApplicableSummary: the summary prints a declared
// justification in full, and the run stays conformant.
func TestRunDeclaredNotApplicableSummary(t *testing.T) {
	ts := runReferenceServer(t, nil)
	profile := runSmallProfile(t, 1)
	const why = "the gateway in front of the production servers strips the binary tensor data extension, so clients never use it"
	f, err := os.OpenFile(profile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("notApplicable:\n  - requirement: OIP-BINARY-DATA\n    justification: " + why + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--profile", profile, "--out", out)
	want := "skip api/binary-data: not applicable: " + why + " (declared by the profile)\n"
	if code != ExitOK || !strings.Contains(stdout, want) || !strings.Contains(stdout, "claim: core claimable") {
		t.Errorf("exit %d, stdout lacks %q or the claim\nstdout:\n%s\nstderr:\n%s", code, want, stdout, stderr)
	}
	rep := runReadReport(t, out)
	for _, c := range rep.Checks {
		if c.ID == "api/binary-data" && c.Message != strings.TrimPrefix(strings.TrimSuffix(want, "\n"), "skip api/binary-data: ") {
			t.Errorf("report message %q", c.Message)
		}
	}
}
