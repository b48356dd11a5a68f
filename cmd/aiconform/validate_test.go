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

// validateKindField returns the file's top-level "kind", if it has one.
func validateKindField(t *testing.T, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return schemas.KindOf(doc)
}

// TestValidateValidExamples validates every valid example in one call
// without --kind: each kind comes from the file name (NAME.KIND.EXT), and
// the examples with a "kind" field carry the same kind.
func TestValidateValidExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(validateExamples, "valid", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid examples: %v", err)
	}
	var want strings.Builder
	kinds := map[string]bool{}
	for _, f := range files {
		kind := validateExampleKind(t, f)
		kinds[kind] = true
		want.WriteString(f + ": ok (kind " + kind + ")\n")
		if k, ok := validateKindField(t, f); ok && k != kind {
			t.Errorf("%s: the \"kind\" field is %q, the name says %q", f, k, kind)
		}
	}
	if len(kinds) < 2 {
		t.Fatalf("the valid examples cover kinds %v; want several, with and without a kind field", kinds)
	}
	code, out, errOut := validateCLI(t, "", append([]string{"validate"}, files...)...)
	if code != ExitOK || out != want.String() || errOut != "" {
		t.Errorf("validate %v: exit %d, stdout %q, stderr %q; want exit 0 and\n%s", files, code, out, errOut, want.String())
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
			if k := validateExampleKind(t, f); k != e.Kind {
				t.Fatalf("expected.json says kind %s, the name says %s", e.Kind, k)
			}
			args := []string{"validate", f}
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
			wantErr: []string{noKind + `: cannot tell the document kind: no "kind" field (a string) and the file name is not NAME.KIND.EXT; name it NAME.KIND.json (or .yaml) or pass --kind, KIND one of golden-manifest, modelcard, `}, wantNoOut: true},
		{name: "kind not a string", args: []string{"validate", numberKind}, wantCode: ExitUsage,
			wantErr: []string{numberKind + `: cannot tell the document kind: no "kind" field (a string) and the file name is not NAME.KIND.EXT`}, wantNoOut: true},
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

// validateWrite writes content to dir/name and returns the path.
func validateWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateKindFromName: without --kind the kind comes from a file name
// NAME.KIND.EXT, then from the "kind" field; --kind overrides both; a file
// whose kind cannot be told is an error naming it and how to name it.
func TestValidateKindFromName(t *testing.T) {
	const response = `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`
	card, err := os.ReadFile(filepath.Join(validateExamples, "valid", "acme-cloud.modelcard.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, content string
		kind                string // --kind, if any
		wantCode            int
		wantOut, wantErr    string // stdout and a substring of stderr; FILE stands for the path
		partial             bool   // wantOut is one line of stdout, not all of it
	}{
		{name: "kind in the name", file: "r.oip-infer-response.json", content: response,
			wantCode: ExitOK, wantOut: "FILE: ok (kind oip-infer-response)\n"},
		{name: "YAML", file: "r.oip-infer-response.yaml", content: "model_name: m\noutputs: [{name: out, shape: [1], datatype: FP32, data: [1]}]\n",
			wantCode: ExitOK, wantOut: "FILE: ok (kind oip-infer-response)\n"},
		{name: "dots in NAME", file: "run.2025.01.oip-infer-response.json", content: response,
			wantCode: ExitOK, wantOut: "FILE: ok (kind oip-infer-response)\n"},
		{name: "the name is checked against the schema it names", file: "r.oip-infer-request.json", content: response,
			wantCode: ExitFail, wantOut: "FILE: /: missing property \"inputs\"\n"},
		{name: "--kind overrides the name", file: "r.oip-infer-request.json", content: response, kind: "oip-infer-response",
			wantCode: ExitOK, wantOut: "FILE: ok (kind oip-infer-response)\n"},
		{name: "the name wins over the kind field", file: "card.golden-manifest.json", content: string(card),
			wantCode: ExitFail, wantOut: "FILE: /kind: expected \"golden-manifest\", got \"modelcard\"\n", partial: true},
		{name: "no kind in the name: the kind field", file: "acme.json", content: string(card),
			wantCode: ExitOK, wantOut: "FILE: ok (kind modelcard)\n"},
		{name: "unknown middle part: the kind field", file: "acme.v2.json", content: string(card),
			wantCode: ExitOK, wantOut: "FILE: ok (kind modelcard)\n"},
		{name: "neither", file: "response.json", content: response,
			wantCode: ExitUsage, wantErr: "FILE: cannot tell the document kind: no \"kind\" field (a string) and the file name is not NAME.KIND.EXT; name it NAME.KIND.json (or .yaml) or pass --kind, KIND one of "},
		{name: "misspelt kind in the name", file: "r.oip-infer-reponse.json", content: response,
			wantCode: ExitUsage, wantErr: "FILE: cannot tell the document kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := validateWrite(t, t.TempDir(), tc.file, tc.content)
			args := []string{"validate", f}
			if tc.kind != "" {
				args = append(args, "--kind", tc.kind)
			}
			code, out, errOut := validateCLI(t, "", args...)
			wantOut := strings.ReplaceAll(tc.wantOut, "FILE", f)
			wantErr := strings.ReplaceAll(tc.wantErr, "FILE", f)
			outOK := out == wantOut || (tc.partial && strings.Contains(out, wantOut))
			if code != tc.wantCode || !outOK || !strings.Contains(errOut, wantErr) || (wantErr == "" && errOut != "") {
				t.Errorf("validate %v: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q", args[1:], code, out, errOut, tc.wantCode, wantOut, wantErr)
			}
		})
	}
}

// TestValidateRedactsCredentials: a document that inlines a credential
// gets its violations, but no printed message shows the credential.
func TestValidateRedactsCredentials(t *testing.T) {
	card, err := os.ReadFile(filepath.Join(validateExamples, "valid", "local-reference.modelcard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"baseURL: http://127.0.0.1:8000\n", "reference: {model: seed-cnn, version: fp32}", "  auth:\n    scheme: none\n"} {
		if !strings.Contains(string(card), part) {
			t.Fatalf("local-reference.modelcard.yaml has no %q, which this test edits:\n%s", part, card)
		}
	}
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
	tests := []struct {
		name, secret string
		edit         func(string) string
		wantOut      string // the violation line, FILE for the path
	}{
		{"bearer token as tokenEnv", "Bearer " + jwt, func(s string) string {
			return strings.Replace(s, "    scheme: none\n", "    scheme: bearer\n    tokenEnv: \"Bearer "+jwt+"\"\n", 1)
		}, "FILE: /service/auth/tokenEnv: expected a string matching ^[A-Z_][A-Z0-9_]*$, got " + schemas.Redacted + "\n"},
		{"short token as tokenEnv", "abc123", func(s string) string {
			return strings.Replace(s, "    scheme: none\n", "    scheme: bearer\n    tokenEnv: abc123\n", 1)
		}, "FILE: /service/auth/tokenEnv: expected a string matching ^[A-Z_][A-Z0-9_]*$, got " + schemas.Redacted + "\n"},
		{"bearer header as base URL", "Bearer sk-live-0123456789abcdef", func(s string) string {
			return strings.Replace(s, "baseURL: http://127.0.0.1:8000", "baseURL: \"Bearer sk-live-0123456789abcdef\"", 1)
		}, "FILE: /service/baseURL: expected a valid uri, got " + schemas.Redacted + " ("},
		{"bare JWT as reference model", jwt, func(s string) string {
			return strings.Replace(s, "reference: {model: seed-cnn,", "reference: {model: \""+jwt+"\",", 1)
		}, `FILE: /service/models/0/reference/model: expected one of "seed-cnn", "seed-rnn", "seed-transformer", got ` + schemas.Redacted + "\n"},
		{"token under an unknown property", "hunter2-secret-value", func(s string) string {
			return s + "  password: hunter2-secret-value\n"
		}, `FILE: /service: additional property "password" is not allowed` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			content := tc.edit(string(card))
			if !strings.Contains(content, tc.secret) {
				t.Fatalf("the edit did not put the secret in the card:\n%s", content)
			}
			f := validateWrite(t, t.TempDir(), "leaky.modelcard.yaml", content)
			code, out, errOut := validateCLI(t, "", "validate", f)
			if strings.Contains(out+errOut, tc.secret) {
				t.Errorf("the output shows the credential %q:\n%s%s", tc.secret, out, errOut)
			}
			if want := strings.ReplaceAll(tc.wantOut, "FILE", f); code != ExitFail || !strings.HasPrefix(out, want) || strings.Count(out, "\n") != 1 || errOut != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line starting %q", code, out, errOut, want)
			}
		})
	}
	// An ordinary value stays in the message.
	f := validateWrite(t, t.TempDir(), "plain.modelcard.yaml", strings.Replace(string(card), "reference: {model: seed-cnn,", "reference: {model: seed-lstm,", 1))
	if _, out, _ := validateCLI(t, "", "validate", f); !strings.Contains(out, `got "seed-lstm"`) {
		t.Errorf("a value that is no credential was hidden: %s", out)
	}
}

// TestValidateSpecVersion: every kind that carries specVersion rejects any
// value but v1 with the same message, at /specVersion; the protocol
// messages carry none. The table names every kind, so a new kind must be
// added to it.
func TestValidateSpecVersion(t *testing.T) {
	hasSpecVersion := map[string]bool{
		"golden-manifest": true, "modelcard": true, "profile": true, "report": true, "requirements": true, "submission": true,
		"oip-error": false, "oip-infer-request": false, "oip-infer-response": false,
		"oip-model-metadata": false, "oip-server-metadata": false,
	}
	for _, k := range schemas.Kinds() {
		if _, ok := hasSpecVersion[k]; !ok {
			t.Errorf("kind %s is not in this test's table", k)
		}
	}
	values := []struct {
		name, json, shown string
	}{
		{"next version", `"v2"`, `"v2"`},
		{"version without v", `"1"`, `"1"`},
		{"number", `1`, `1`},
		{"capital V", `"V1"`, `"V1"`},
	}
	for _, kind := range schemas.Kinds() {
		src, err := schemas.Source(kind, "")
		if err != nil {
			t.Fatal(err)
		}
		if !hasSpecVersion[kind] {
			if strings.Contains(string(src), "specVersion") {
				t.Errorf("%s declares specVersion; add it to the kinds that carry one", kind)
			}
			continue
		}
		for _, v := range values {
			t.Run(kind+"/"+v.name, func(t *testing.T) {
				dir := t.TempDir()
				bad := validateWrite(t, dir, "doc."+kind+".json", `{"kind":"`+kind+`","specVersion":`+v.json+`}`)
				good := validateWrite(t, dir, "ok."+kind+".json", `{"kind":"`+kind+`","specVersion":"v1"}`)
				code, out, _ := validateCLI(t, "", "validate", bad, good)
				want := bad + `: /specVersion: expected "v1", got ` + v.shown + "\n"
				if code != ExitFail || !strings.Contains(out, want) {
					t.Errorf("exit %d, stdout:\n%s\nwant exit 1 and the line %q", code, out, want)
				}
				if strings.Contains(out, good+": /specVersion") {
					t.Errorf("specVersion v1 is rejected:\n%s", out)
				}
			})
		}
	}
}
