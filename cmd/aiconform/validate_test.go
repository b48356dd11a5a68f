package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/schemas"
)

// validateExamples is the published example tree (see its README.md).
var validateExamples = filepath.Join("..", "..", "testdata", "examples")

// validateCLI runs the CLI with args and stdin and returns the exit code,
// stdout and stderr.
func validateCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// validateExampleKind returns KIND of NAME.KIND.EXT.
func validateExampleKind(t *testing.T, path string) string {
	t.Helper()
	parts := strings.Split(filepath.Base(path), ".")
	if len(parts) != 3 {
		t.Fatalf("%s: example names are NAME.KIND.EXT", path)
	}
	return parts[1]
}

// validateSelfDescribing reports whether the file has a top-level "kind".
func validateSelfDescribing(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument(path, b)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := schemas.KindOf(doc)
	return ok
}

func TestValidateValidExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(validateExamples, "valid", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid examples: %v", err)
	}
	var selfDescribing []string
	var wantAll strings.Builder
	for _, f := range files {
		kind := validateExampleKind(t, f)
		args := []string{"validate", f}
		if validateSelfDescribing(t, f) {
			selfDescribing = append(selfDescribing, f)
			wantAll.WriteString(f + ": ok (kind " + kind + ")\n")
		} else {
			args = append(args, "--kind", kind)
		}
		code, out, errOut := validateCLI(t, "", args...)
		if want := f + ": ok (kind " + kind + ")\n"; code != ExitOK || out != want || errOut != "" {
			t.Errorf("validate %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(args[1:], " "), code, out, errOut, want)
		}
	}
	// Documents with a kind field validate together, without --kind.
	if len(selfDescribing) < 2 {
		t.Fatalf("want at least two examples with a kind field, have %v", selfDescribing)
	}
	code, out, errOut := validateCLI(t, "", append([]string{"validate"}, selfDescribing...)...)
	if code != ExitOK || out != wantAll.String() || errOut != "" {
		t.Errorf("validate %v: exit %d, stdout %q, stderr %q; want exit 0 and\n%s", selfDescribing, code, out, errOut, wantAll.String())
	}
}

func TestValidateInvalidExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(validateExamples, "invalid", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]struct {
		Kind            string `json:"kind"`
		Pointer         string `json:"pointer"`
		MessageContains string `json:"messageContains"`
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	if len(expected) == 0 {
		t.Fatal("expected.json lists no invalid examples")
	}
	for name, e := range expected {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(validateExamples, "invalid", name)
			args := []string{"validate", f}
			if !validateSelfDescribing(t, f) {
				args = append(args, "--kind", e.Kind)
			}
			code, out, errOut := validateCLI(t, "", args...)
			ptr := e.Pointer
			if ptr == "" {
				ptr = "/"
			}
			want := f + ": " + ptr + ": "
			if code != ExitFail || !strings.Contains(out, want) || !strings.Contains(out, e.MessageContains) || errOut != "" {
				t.Errorf("validate %s: exit %d, stdout %q, stderr %q; want exit 1 and %q ... %q", strings.Join(args[1:], " "), code, out, errOut, want, e.MessageContains)
			}
			if lines := strings.Count(out, "\n"); lines != 1 {
				t.Errorf("printed %d lines, want one violation:\n%s", lines, out)
			}
		})
	}
}

func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := write("ok.json", `{"error":"model \"x\" not found"}`)
	invalid := write("bad.json", `{"error":42,"extra":true}`)
	broken := write("broken.json", "{\n  \"error\": \"x\",\n}")
	brokenYAML := write("broken.yaml", "a: [1,\n")
	noKind := write("nokind.json", `{"error":"x"}`)
	unknownKind := write("unknown.yaml", "kind: modelcards\n")
	numberKind := write("numberkind.json", `{"kind":1}`)
	missing := filepath.Join(dir, "missing.json")
	card := filepath.Join(validateExamples, "valid", "acme-cloud.modelcard.json")

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErr    []string // substrings of stderr
		wantNoOut  bool
		wantNoErrs bool
	}{
		{name: "valid", args: []string{"validate", "--kind", "oip-error", valid}, wantCode: ExitOK,
			wantOut: []string{valid + ": ok (kind oip-error)\n"}, wantNoErrs: true},
		{name: "version pinned", args: []string{"validate", "--kind", "oip-error@v1", valid}, wantCode: ExitOK,
			wantOut: []string{valid + ": ok (kind oip-error)\n"}, wantNoErrs: true},
		{name: "invalid", args: []string{"validate", "--kind", "oip-error", invalid}, wantCode: ExitFail,
			wantOut: []string{invalid + ": /error: expected string, got number 42\n"}, wantNoErrs: true},
		{name: "missing file", args: []string{"validate", missing}, wantCode: ExitUsage,
			wantErr: []string{missing + ": cannot read: no such file or directory"}, wantNoOut: true},
		{name: "broken JSON", args: []string{"validate", "--kind", "oip-error", broken}, wantCode: ExitUsage,
			wantErr: []string{broken + ":3:1: invalid JSON: invalid character '}'"}, wantNoOut: true},
		{name: "broken YAML", args: []string{"validate", brokenYAML}, wantCode: ExitUsage,
			wantErr: []string{brokenYAML + ": invalid YAML: line "}, wantNoOut: true},
		{name: "no kind field", args: []string{"validate", noKind}, wantCode: ExitUsage,
			wantErr: []string{noKind + `: no "kind" field (a string); pass --kind (one of golden-manifest, modelcard, `}, wantNoOut: true},
		{name: "kind not a string", args: []string{"validate", numberKind}, wantCode: ExitUsage,
			wantErr: []string{numberKind + `: no "kind" field (a string); pass --kind`}, wantNoOut: true},
		{name: "unknown kind field", args: []string{"validate", unknownKind}, wantCode: ExitUsage,
			wantErr: []string{unknownKind + `: unknown kind "modelcards" in the "kind" field; want one of golden-manifest, modelcard, `}, wantNoOut: true},
		{name: "unknown --kind", args: []string{"validate", "--kind", "model-card", valid}, wantCode: ExitUsage,
			wantErr: []string{`aiconform: --kind: unknown kind "model-card"; want one of golden-manifest, modelcard, `}, wantNoOut: true},
		{name: "unknown --kind version", args: []string{"validate", "--kind", "modelcard@v7", card}, wantCode: ExitUsage,
			wantErr: []string{`aiconform: --kind: kind "modelcard" has no schema version "v7"; it has v1`}, wantNoOut: true},
		{name: "malformed --kind", args: []string{"validate", "--kind", "modelcard@", card}, wantCode: ExitUsage,
			wantErr: []string{`want KIND or KIND@VERSION`}, wantNoOut: true},
		{name: "no files", args: []string{"validate"}, wantCode: ExitUsage, wantErr: []string{"requires at least 1 arg"}},
		{name: "--kind overrides the kind field", args: []string{"validate", "--kind", "golden-manifest", card}, wantCode: ExitFail,
			wantOut: []string{card + `: /kind: expected "golden-manifest", got "modelcard"`}},
		{name: "stdin", args: []string{"validate", "--kind", "oip-server-metadata", "-"}, stdin: `{"name":"s","version":"1","extensions":[]}`,
			wantCode: ExitOK, wantOut: []string{"<stdin>: ok (kind oip-server-metadata)\n"}, wantNoErrs: true},
		{name: "stdin invalid", args: []string{"validate", "--kind", "oip-server-metadata", "-"}, stdin: `{"name":"s","version":"1"}`,
			wantCode: ExitFail, wantOut: []string{`<stdin>: /: missing property "extensions"`}},
		// Every file is processed; the exit code is the worst.
		{name: "valid and invalid", args: []string{"validate", "--kind", "oip-error", valid, invalid}, wantCode: ExitFail,
			wantOut: []string{valid + ": ok (kind oip-error)\n", invalid + ": /error: expected string"}},
		{name: "all outcomes", args: []string{"validate", "--kind", "oip-error", missing, valid, broken, invalid}, wantCode: ExitUsage,
			wantOut: []string{valid + ": ok (kind oip-error)\n", invalid + ": /error: expected string, got number 42\n"},
			wantErr: []string{missing + ": cannot read", broken + ":3:1: invalid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := validateCLI(t, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q does not contain %q", out, w)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
			if tc.wantNoOut && out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if tc.wantNoErrs && errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
		})
	}
}
