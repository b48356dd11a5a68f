package submission

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// testcase is one testcase of a JUnit XML document: its name and the
// status its children give it (failure, error, skipped, else pass).
type testcase struct {
	name   string
	status spec.Status
}

// parseJUnit reads every testcase of a JUnit XML document, wherever it is
// nested; the document must be well-formed XML with one root element.
func parseJUnit(data []byte) ([]testcase, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []testcase
	depth, roots := 0, 0
	current := -1 // index in out of the open testcase
	caseDepth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			switch {
			case t.Name.Local == "testcase" && current < 0:
				tc := testcase{status: spec.Pass}
				for _, a := range t.Attr {
					if a.Name.Local == "name" {
						tc.name = a.Value
					}
				}
				out = append(out, tc)
				current, caseDepth = len(out)-1, depth
			case current >= 0 && depth == caseDepth+1:
				switch t.Name.Local {
				case "failure":
					out[current].status = spec.Fail
				case "error":
					out[current].status = spec.Error
				case "skipped":
					out[current].status = spec.Skip
				}
			}
		case xml.EndElement:
			if current >= 0 && depth == caseDepth {
				current = -1
			}
			depth--
		}
	}
	if roots != 1 {
		return nil, fmt.Errorf("%d root elements, want one", roots)
	}
	return out, nil
}

// checkJUnit holds the testcases of junit.xml against the report's checks:
// one testcase per check, named by its id, with its status.
func checkJUnit(data []byte, rep *conformance.Report) (string, []string) {
	cases, err := parseJUnit(data)
	if err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return "", []string{fmt.Sprintf("%s is not well-formed XML: line %d: %s", JUnitFile, se.Line, se.Msg)}
		}
		return "", []string{fmt.Sprintf("%s is not well-formed XML: %v", JUnitFile, err)}
	}
	byName := map[string][]testcase{}
	for _, c := range cases {
		byName[c.name] = append(byName[c.name], c)
	}
	var problems []string
	checks := map[string]bool{}
	for _, c := range rep.Checks {
		checks[c.ID] = true
		tcs := byName[c.ID]
		switch {
		case len(tcs) == 0:
			problems = append(problems, fmt.Sprintf("%s has no testcase for check %s", JUnitFile, c.ID))
		case len(tcs) > 1:
			problems = append(problems, fmt.Sprintf("%s has %d testcases for check %s, want one", JUnitFile, len(tcs), c.ID))
		case tcs[0].status != c.Status:
			problems = append(problems, fmt.Sprintf("%s: testcase %s is %s, the report's check is %s", JUnitFile, c.ID, tcs[0].status, c.Status))
		}
	}
	for _, c := range cases {
		if !checks[c.name] {
			problems = append(problems, fmt.Sprintf("%s: testcase %q is no check of the report", JUnitFile, c.name))
		}
	}
	return fmt.Sprintf("%d testcases, one per check, each with its status", len(cases)), problems
}
