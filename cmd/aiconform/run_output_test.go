package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/reports"
)

// TestRunFormats: run writes report.json and its default renderings, or
// the ones --format names; the NDJSON stream holds a line per check and
// an end line whose verdict is the report's; every other file is what
// `report render` makes of report.json.
func TestRunFormats(t *testing.T) {
	ts := runReferenceServer(t, nil)
	profile := runSmallProfile(t, 2)
	tests := []struct {
		name  string
		flags []string
		files []string
	}{
		{"default", nil, []string{"report.json", "report.md", "report.html", "junit.xml"}},
		{"chosen", []string{"--format", "junit,ndjson"}, []string{"report.json", "junit.xml", "report.ndjson"}},
		{"json named twice", []string{"--format", "json", "--format", "json"}, []string{"report.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := runCLI(t, append([]string{"run", "-q", "--target", ts.URL, "--out", out, "--profile", profile}, tt.flags...)...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			want := slices.Clone(tt.files)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s holds %v, want %v", out, got, want)
			}
			if len(tt.files) > 1 && !strings.Contains(stdout, "also written: "+strings.Join(tt.files[1:], ", ")) {
				t.Errorf("stdout does not list the other files %v:\n%s", tt.files[1:], stdout)
			}
			rep, err := reports.Read(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tt.files {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				switch name {
				case "report.ndjson":
					checkNDJSONStream(t, b, len(rep.Checks), string(rep.Verdict))
				case "junit.xml":
					var doc struct {
						Tests int `xml:"tests,attr"`
					}
					if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != len(rep.Checks) {
						t.Errorf("junit.xml: %v; %d tests, want %d", err, doc.Tests, len(rep.Checks))
					}
				case "report.md", "report.html":
					f, _ := reports.ParseFormat(map[string]string{"report.md": "md", "report.html": "html"}[name])
					var again strings.Builder
					if err := reports.Render(&again, rep, f, reports.Options{}); err != nil {
						t.Fatal(err)
					}
					if again.String() != string(b) {
						t.Errorf("%s is not the %s rendering of report.json", name, f)
					}
				}
			}
		})
	}
}

// checkNDJSONStream checks a run's NDJSON stream: one check line per
// check in order, then one end line with the verdict.
func checkNDJSONStream(t *testing.T, b []byte, checks int, verdict string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<24)
	var types []string
	var last map[string]any
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d of report.ndjson: %v", len(types)+1, err)
		}
		types = append(types, line["type"].(string))
		if idx, ok := line["index"].(float64); ok && int(idx) != len(types) {
			t.Errorf("line %d has index %v", len(types), idx)
		}
		last = line
	}
	if len(types) != checks+1 || types[len(types)-1] != "end" || slices.Index(types, "end") != checks {
		t.Fatalf("report.ndjson line types %v, want %d check lines and an end line", types, checks)
	}
	if last["verdict"] != verdict {
		t.Errorf("end line verdict %v, want %s", last["verdict"], verdict)
	}
}

func TestRunFormatErrors(t *testing.T) {
	tests := []struct {
		format string
		want   string
	}{
		{"pdf", `unknown report format "pdf"`},
		{"table", "--format table: the table is printed on standard output"},
		{"md,,html", `unknown report format ""`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := runCLI(t, "run", "--target", "http://127.0.0.1:1", "--out", out, "--format", tt.format)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a usage error left %s behind (%v)", out, err)
			}
		})
	}
}

// TestRunUnreachableLeavesNoStream: a run that makes no report leaves no
// NDJSON stream behind either.
func TestRunUnreachableLeavesNoStream(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := runCLI(t, "run", "--target", "http://127.0.0.1:1", "--out", out, "--format", "ndjson")
	if code != ExitUnreachable {
		t.Fatalf("exit %d, want %d: %s", code, ExitUnreachable, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s is left behind (%v)", out, err)
	}
}
