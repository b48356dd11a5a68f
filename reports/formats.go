package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/jsonexact"
	"github.com/aiconform/aiconform/schemas"
)

// Format names a rendering of a report.
type Format string

// The renderings of a report.
const (
	FormatJSON     Format = "json"
	FormatMarkdown Format = "md"
	FormatHTML     Format = "html"
	FormatJUnit    Format = "junit"
	FormatTable    Format = "table"
	FormatNDJSON   Format = "ndjson"
)

// Formats lists every rendering, in the order help texts name them.
var Formats = []Format{FormatJSON, FormatMarkdown, FormatHTML, FormatJUnit, FormatTable, FormatNDJSON}

// DefaultFormats are the files `aiconform run` writes when not told which.
var DefaultFormats = []Format{FormatJSON, FormatMarkdown, FormatHTML, FormatJUnit}

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown report format %q, want one of %s", s, strings.Join(names, ", "))
}

// FileName is the name of the format's file inside a report directory;
// the terminal table has none.
func (f Format) FileName() string {
	switch f {
	case FormatJSON:
		return JSONFile
	case FormatMarkdown:
		return "report.md"
	case FormatHTML:
		return "report.html"
	case FormatJUnit:
		return "junit.xml"
	case FormatNDJSON:
		return "report.ndjson"
	}
	return ""
}

// Options tune a rendering.
type Options struct {
	// Width is the terminal width the table fits; zero uses DefaultWidth.
	Width int
}

// Render writes rep in format f.
func Render(w io.Writer, rep *conformance.Report, f Format, o Options) error {
	switch f {
	case FormatJSON:
		b, err := JSON(rep)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case FormatMarkdown:
		return Markdown(w, rep)
	case FormatHTML:
		return HTML(w, rep)
	case FormatJUnit:
		return JUnit(w, rep)
	case FormatTable:
		return SummaryWidth(w, rep, o.Width)
	case FormatNDJSON:
		return NDJSON(w, rep)
	}
	return fmt.Errorf("reports: unknown format %q", f)
}

// Read reads a report.json: it must parse and validate against the report
// schema. Errors name the file and, for a violation, its JSON pointer.
func Read(path string) (*conformance.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes and validates the bytes of a report.json; name is the
// file in errors.
func Parse(name string, b []byte) (*conformance.Report, error) {
	doc, err := schemas.DecodeDocument(name, b)
	if err != nil {
		return nil, err
	}
	vs, err := schemas.Validate(conformance.ReportKind, "v1", doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(vs) > 0 {
		lines := make([]string, len(vs))
		for i, v := range vs {
			lines[i] = name + ": " + v.String()
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	// Member names are matched exactly: the schema lets a later build of
	// the load generator add members, and one whose name only folds to a
	// field's ("ſent") must not be read as that field.
	var rep conformance.Report
	if err := jsonexact.Decode(doc, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &rep, nil
}
