package reports

import (
	"bytes"
	"testing"
)

// TestGoldenRenderings renders the fixture in every text format and
// compares each rendering with its golden file.
func TestGoldenRenderings(t *testing.T) {
	rep := fixture(t)
	tests := []struct {
		file   string
		format Format
		width  int
	}{
		{"fixture.md", FormatMarkdown, 0},
		{"fixture.junit.xml", FormatJUnit, 0},
		{"fixture.ndjson", FormatNDJSON, 0},
		{"fixture.table-80.txt", FormatTable, 80},
		{"fixture.table-160.txt", FormatTable, 160},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, rep, tt.format, Options{Width: tt.width}); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.file, b.Bytes())
			// Rendering twice gives the same bytes: nothing depends on
			// map order or the clock.
			var again bytes.Buffer
			if err := Render(&again, fixture(t), tt.format, Options{Width: tt.width}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), again.Bytes()) {
				t.Errorf("two renderings of %s differ", tt.format)
			}
		})
	}
}
