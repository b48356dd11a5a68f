package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/reports"
)

// renderFixture is the report the renderers' golden files are made from.
var renderFixture = filepath.Join("..", "..", "reports", "testdata", "fixture.report.json")

// renderCLI runs the CLI with args and stdin and returns the exit code,
// stdout and stderr.
func renderCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// rendered is what package reports renders of the fixture.
func rendered(t *testing.T, f reports.Format, width int) string {
	t.Helper()
	rep, err := reports.Read(renderFixture)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := reports.Render(&b, rep, f, reports.Options{Width: width}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReportRenderFormats: each format writes the rendering of package
// reports to standard output and exits 0, whatever the report's verdict.
func TestReportRenderFormats(t *testing.T) {
	tests := []struct {
		args   []string
		format reports.Format
		width  int
	}{
		{[]string{"--format", "md"}, reports.FormatMarkdown, 0},
		{[]string{"--format", "junit"}, reports.FormatJUnit, 0},
		{[]string{"--format", "ndjson"}, reports.FormatNDJSON, 0},
		{[]string{"--format", "json"}, reports.FormatJSON, 0},
		{[]string{"--format", "table"}, reports.FormatTable, reports.DefaultWidth},
		{nil, reports.FormatTable, reports.DefaultWidth},
		{[]string{"--format", "table", "--width", "160"}, reports.FormatTable, 160},
		{[]string{"--format=table", "--width=72"}, reports.FormatTable, 72},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		if name == "" {
			name = "default format"
		}
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{"report", "render"}, tt.args...), renderFixture)
			code, out, errOut := renderCLI(t, "", args...)
			if code != ExitOK {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, errOut)
			}
			if want := rendered(t, tt.format, tt.width); out != want {
				t.Errorf("stdout is not the %s rendering:\n%s", tt.format, out)
			}
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
		})
	}
	// The JSON rendering reads back as the same report.
	_, out, _ := renderCLI(t, "", "report", "render", "--format", "json", renderFixture)
	if _, err := reports.Parse("stdout", []byte(out)); err != nil {
		t.Errorf("the JSON rendering is not a valid report: %v", err)
	}
	// Standard input.
	b, err := os.ReadFile(renderFixture)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := renderCLI(t, string(b), "report", "render", "--format", "md", "-")
	if code != ExitOK || out != rendered(t, reports.FormatMarkdown, 0) {
		t.Errorf("from stdin: exit %d, stderr %s", code, errOut)
	}
}

// TestReportRenderHTML: html is one of the formats (its bytes are the
// HTML renderer's to test).
func TestReportRenderHTML(t *testing.T) {
	code, _, errOut := renderCLI(t, "", "report", "render", "--format", "html", renderFixture)
	if code == ExitUsage || strings.Contains(errOut, "unknown report format") {
		t.Errorf("html is not accepted: exit %d, stderr %s", code, errOut)
	}
}

// TestReportRenderOutput: -o writes the file atomically and nothing to
// standard output.
func TestReportRenderOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	p := filepath.Join(dir, "junit.xml")
	for range 2 { // the second run replaces the file
		code, out, errOut := renderCLI(t, "", "report", "render", "--format", "junit", "-o", p, renderFixture)
		if code != ExitOK || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errOut)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != rendered(t, reports.FormatJUnit, 0) {
		t.Errorf("%s is not the JUnit rendering:\n%s", p, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %v, want junit.xml alone", entries)
	}
	// A table written to a file fits DefaultWidth, not a terminal.
	tp := filepath.Join(dir, "table.txt")
	if code, _, errOut := renderCLI(t, "", "report", "render", "--format", "table", "--output", tp, renderFixture); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(tp); string(b) != rendered(t, reports.FormatTable, reports.DefaultWidth) {
		t.Errorf("%s:\n%s", tp, b)
	}
}

// TestReportRenderErrors: bad flags and unreadable, unparseable or
// invalid reports exit 2 with a message that names the problem.
func TestReportRenderErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(notJSON, []byte(`{"kind": "report",`), 0o644); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	b, err := os.ReadFile(renderFixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["checks"].([]any)[2].(map[string]any)["status"] = "maybe"
	invalid := filepath.Join(dir, "invalid.json")
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(invalid, b, 0o644); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"bad format", []string{"--format", "pdf", renderFixture}, []string{"--format", `unknown report format "pdf"`, "md, html, junit"}},
		{"negative width", []string{"--width", "-1", renderFixture}, []string{"--width -1"}},
		{"missing file", []string{missing}, []string{missing + ": cannot read: no such file or directory"}},
		{"not JSON", []string{notJSON}, []string{notJSON}},
		{"breaks the schema", []string{invalid}, []string{invalid + ": /checks/2/status"}},
		{"no report", nil, []string{"accepts 1 arg"}},
		{"two reports", []string{renderFixture, renderFixture}, []string{"accepts 1 arg"}},
		{"unwritable output", []string{"-o", filepath.Join(blocker, "out.md"), "--format", "md", renderFixture}, []string{"cannot write " + filepath.Join(blocker, "out.md")}},
		{"unknown flag", []string{"--colour", renderFixture}, []string{"unknown flag: --colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := renderCLI(t, "", append([]string{"report", "render"}, tt.args...)...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, errOut)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}
