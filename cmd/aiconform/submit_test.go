package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/internal/reportfixture"
	"github.com/aiconform/aiconform/submission"
)

// verifySubmissionChecks are the checks verify-submission prints, in order.
var verifySubmissionChecks = []string{"signature", "subjects", "schemas", "files", "junit", "verdicts", "claim", "goldens", "profile", "model card", "predicate"}

func TestSubmitVerifySubmissionRoundTrip(t *testing.T) {
	key, pub := keygenFiles(t)
	fx := reportfixture.Write(t, t.TempDir(), aiconform.Goldens())
	for _, out := range []string{filepath.Join(t.TempDir(), "acme.tar.gz"), filepath.Join(t.TempDir(), "acme")} {
		t.Run(filepath.Base(out), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "submit", "--report", fx.Report, "--key", key, "--out", out)
			if code != ExitOK {
				t.Fatalf("submit: exit %d\n%s%s", code, stdout, stderr)
			}
			for _, want := range []string{"submission: " + out, "claim: conformance of " + fx.Rep.Target + " at core,safety", "verify with: aiconform verify-submission " + out} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			assertNoPrivateKey(t, key, stdout, stderr)
			code, stdout, stderr = runCLI(t, "verify-submission", out, "--pub", pub)
			if code != ExitOK {
				t.Fatalf("verify-submission: exit %d\n%s%s", code, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != len(verifySubmissionChecks)+1 || lines[len(lines)-1] != "submission verified: every check holds" {
				t.Fatalf("stdout:\n%s", stdout)
			}
			for i, c := range verifySubmissionChecks {
				if !strings.HasPrefix(lines[i], "ok   "+c+": ") {
					t.Errorf("line %d %q, want check %s ok", i, lines[i], c)
				}
			}
			// The attestation of a bundle verifies on its own too.
			if !submission.IsArchive(out) {
				code, stdout, stderr = runCLI(t, "report", "verify", "--pub", pub, filepath.Join(out, "attestation.json"))
				if code != ExitOK || !strings.Contains(stdout, "verified: the signature and all 8 subjects") {
					t.Errorf("report verify of the bundle: exit %d\n%s%s", code, stdout, stderr)
				}
			}
			// The same --out is not written again.
			if code, _, stderr := runCLI(t, "submit", "--report", fx.Report, "--key", key, "--out", out); code != ExitUsage {
				t.Errorf("second submit to %s: exit %d\n%s", out, code, stderr)
			}
		})
	}
}

func TestSubmitRefuses(t *testing.T) {
	key, pub := keygenFiles(t)
	fx := reportfixture.Write(t, t.TempDir(), aiconform.Goldens())
	// A report whose verdict was edited by hand.
	var doc map[string]any
	if err := json.Unmarshal(mustRead(t, fx.Report), &doc); err != nil {
		t.Fatal(err)
	}
	doc["verdict"] = "pass"
	edited, _ := json.MarshalIndent(doc, "", "  ")
	editedReport := filepath.Join(fx.Dir, "edited.json")
	if err := os.WriteFile(editedReport, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"unsupported level", []string{"--report", fx.Report, "--key", key, "--claim", "core,performance"}, ExitFail,
			[]string{"the report does not support a claim at level performance: rule 1: the verdict of level performance is fail"}},
		{"edited verdict", []string{"--report", editedReport, "--key", key}, ExitFail,
			[]string{`FAIL verdicts: verdict: report.json has "pass", its checks give "fail"`, "the bundle would not verify (1 problems above); nothing was written"}},
		{"unknown level", []string{"--report", fx.Report, "--key", key, "--claim", "gold"}, ExitUsage, []string{`"gold" is not a level`}},
		{"no report", []string{"--key", key}, ExitUsage, []string{"--report is required"}},
		{"no key", []string{"--report", fx.Report}, ExitUsage, []string{"--key is required"}},
		{"public key", []string{"--report", fx.Report, "--key", pub}, ExitUsage, []string{"want \"PRIVATE KEY\""}},
		{"another profile", []string{"--report", fx.Report, "--key", key, "--profile", fx.ModelCard}, ExitFail, []string{"as profile.sha256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle.tar.gz")
			code, stdout, stderr := runCLI(t, append([]string{"submit", "--out", out}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a bundle was written (%v)", err)
			}
			assertNoPrivateKey(t, key, stdout, stderr)
		})
	}
}

// TestVerifySubmissionNamesProblems: a bundle changed after it was
// signed, or checked with another key, fails, naming each problem.
func TestVerifySubmissionNamesProblems(t *testing.T) {
	key, pub := keygenFiles(t)
	_, otherPub := keygenFiles(t)
	fx := reportfixture.Write(t, t.TempDir(), aiconform.Goldens())
	dir := filepath.Join(t.TempDir(), "bundle")
	if code, stdout, stderr := runCLI(t, "submit", "--report", fx.Report, "--key", key, "--out", dir); code != ExitOK {
		t.Fatalf("submit: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ := runCLI(t, "verify-submission", dir, "--pub", otherPub)
	if code != ExitFail || !strings.Contains(stdout, "FAIL signature: bad signature: attestation.json: no signature verifies") {
		t.Errorf("another key: exit %d\n%s", code, stdout)
	}
	// The verdict edited in place.
	report := filepath.Join(dir, "report.json")
	b := mustRead(t, report)
	edited := bytes.Replace(b, []byte(`"verdict": "fail"`), []byte(`"verdict": "pass"`), 1)
	if bytes.Equal(b, edited) {
		t.Fatal("the report has no verdict to edit")
	}
	if err := os.WriteFile(report, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, "verify-submission", dir, "--pub", pub)
	for _, want := range []string{
		"FAIL subjects: report.json: MISMATCH",
		"FAIL files: report.json: submission.json lists sha256",
		`FAIL verdicts: verdict: report.json has "pass", its checks give "fail"`,
		`FAIL predicate: verdict: attested "fail", the report has "pass"`,
		"ok   claim: ", "ok   goldens: ",
		"submission NOT verified: 4 problems",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if code != ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	if code, _, stderr := runCLI(t, "verify-submission", dir); code != ExitUsage || !strings.Contains(stderr, "--pub is required") {
		t.Errorf("no --pub: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "verify-submission", filepath.Join(dir, "none"), "--pub", pub); code != ExitUsage {
		t.Errorf("no bundle: exit %d %s", code, stderr)
	}
}

// TestVerifySubmissionRefusesTraversal: an archive entry that climbs out
// of the bundle is refused before anything is read from it.
func TestVerifySubmissionRefusesTraversal(t *testing.T) {
	_, pub := keygenFiles(t)
	for _, name := range []string{"../../evil.sh", "/tmp/evil.sh", "bundle/../../evil.sh"} {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 4, Mode: 0o755})
		tw.Write([]byte("boom"))
		tw.Close()
		gz.Close()
		dir := t.TempDir()
		archive := filepath.Join(dir, "evil.tar.gz")
		if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI(t, "verify-submission", archive, "--pub", pub)
		if code != ExitUsage || !strings.Contains(stderr, "unsafe bundle entry") || !strings.Contains(stderr, name) {
			t.Errorf("%s: exit %d\n%s%s", name, code, stdout, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "..", "evil.sh")); !os.IsNotExist(err) {
			t.Errorf("%s: something was extracted (%v)", name, err)
		}
	}
}
