package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/conformance"
)

// update rewrites the golden files of the renderers:
// go test ./reports -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtureFile is a report that covers every status, a failure with long
// evidence, non-finite numbers, non-ASCII text, text that would be markup
// in Markdown and HTML, and performance evidence with its histograms.
const fixtureFile = "testdata/fixture.report.json"

// fixture reads fixtureFile.
func fixture(t *testing.T) *conformance.Report {
	t.Helper()
	rep, err := Read(fixtureFile)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkGolden compares got with testdata/golden/name, or rewrites the file
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (-want +got; go test ./reports -update rewrites it):\n%s", p, cmp.Diff(string(want), string(got)))
	}
}

func TestFixtureIsAReport(t *testing.T) {
	rep := fixture(t)
	seen := map[string]bool{}
	for _, c := range rep.Checks {
		seen[string(c.Status)] = true
	}
	for _, s := range []string{"pass", "fail", "skip", "error"} {
		if !seen[s] {
			t.Errorf("the fixture has no check with status %s", s)
		}
	}
}
