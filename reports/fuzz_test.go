package reports

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/fuzzcheck"
)

// FuzzParse feeds a report.json to Parse. An accepted report renders in
// every format without error, and its JSON form (JSON) parses back to a
// report of the same JSON form: what Parse accepts the tool can write again. Memory stays
// bounded by the document's size.
func FuzzParse(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "fixture.report.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	small, err := JSON(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add([]byte(`{"kind":"report"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			rep *conformance.Report
			err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(b)), "Parse", func() {
			rep, err = Parse(JSONFile, b)
		})
		if err != nil {
			return
		}
		for _, format := range Formats {
			if err := Render(io.Discard, rep, format, Options{}); err != nil {
				t.Fatalf("an accepted report does not render as %s: %v", format, err)
			}
		}
		again, err := JSON(rep)
		if err != nil {
			t.Fatalf("an accepted report does not encode: %v", err)
		}
		rep2, err := Parse("again.json", again)
		if err != nil {
			t.Fatalf("the JSON form of an accepted report does not parse: %v", err)
		}
		again2, err := JSON(rep2)
		if err != nil {
			t.Fatalf("a parsed report does not encode: %v", err)
		}
		if !bytes.Equal(again2, again) {
			t.Fatalf("the JSON form of an accepted report parses to another report:\n%s\nthen\n%s", again, again2)
		}
	})
}
