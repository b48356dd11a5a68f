package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// JUnit writes rep as JUnit XML (spec/v1/report.md, "JUnit XML"): a
// <testsuites> element with the totals, one <testsuite> per level that has
// checks, named by the level, and one <testcase> per check, named by the
// check id with its requirement IDs as the classname. A fail is a
// <failure>, an error an <error>, each with the check's message as its
// message attribute and a summary of the evidence as its text; a skip is a
// <skipped> element whose message is the reason. Every suite carries the
// report's properties (spec and tool version, target, digests of the
// profile and goldens, seed, verdicts): the common JUnit schemas allow
// <properties> in a <testsuite> only.
//
// The document validates against the JUnit schema of Jenkins' xunit
// plugin (testdata/junit/junit-10.xsd). Characters XML 1.0 cannot hold
// (control characters, invalid UTF-8) are written as U+FFFD.
func JUnit(w io.Writer, rep *conformance.Report) error {
	doc := junitDocument(rep)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("reports: writing the JUnit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: writing the JUnit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("reports: writing the JUnit report: %w", err)
	}
	return nil
}

// The elements of a JUnit document. encoding/xml escapes their text and
// attributes, and writes U+FFFD for what XML 1.0 cannot hold.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Time     string       `xml:"time,attr,omitempty"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr,omitempty"`
		Timestamp  string          `xml:"timestamp,attr"`
		Properties []junitProperty `xml:"properties>property"`
		Cases      []junitCase     `xml:"testcase"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr,omitempty"`
		Failure   *junitOutcome `xml:"failure"`
		Error     *junitOutcome `xml:"error"`
		Skipped   *junitOutcome `xml:"skipped"`
	}
	junitOutcome struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// junitDocument builds the document of rep.
func junitDocument(rep *conformance.Report) junitSuites {
	doc := junitSuites{Name: "aiconform", Time: junitSeconds(float64(rep.Duration.Value), rep.Duration.Unit)}
	props := junitProperties(rep)
	for _, l := range junitLevels(rep) {
		suite := junitSuite{Name: string(l), Timestamp: rep.StartTime.UTC().Format(time.RFC3339)}
		suite.Properties = append(append([]junitProperty{}, props...), junitProperty{"levelVerdict", string(rep.Levels[l])})
		ms, timed := 0.0, true
		for _, c := range rep.Checks {
			if c.Level != l {
				continue
			}
			tc := junitCase{Name: c.ID, Classname: strings.Join(c.Requirements, " "), Time: junitSeconds(float64(c.Duration.Value), c.Duration.Unit)}
			timed = timed && tc.Time != ""
			ms += float64(c.Duration.Value)
			suite.Tests++
			switch c.Status {
			case spec.Fail:
				suite.Failures++
				tc.Failure = &junitOutcome{Message: c.Message, Type: string(spec.Fail), Text: evidenceText(c)}
			case spec.Error:
				suite.Errors++
				tc.Error = &junitOutcome{Message: c.Message, Type: string(spec.Error), Text: evidenceText(c)}
			case spec.Skip:
				suite.Skipped++
				tc.Skipped = &junitOutcome{Message: c.Message}
			}
			suite.Cases = append(suite.Cases, tc)
		}
		if timed {
			suite.Time = junitSeconds(ms, conformance.UnitMillisecond)
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Suites = append(doc.Suites, suite)
	}
	return doc
}

// junitLevels are the levels that have checks: the standard's levels in
// its order, then any other level a check names, in the order of the
// checks.
func junitLevels(rep *conformance.Report) []spec.Level {
	var out []spec.Level
	for _, l := range spec.Levels {
		if slices.ContainsFunc(rep.Checks, func(c conformance.Result) bool { return c.Level == l }) {
			out = append(out, l)
		}
	}
	for _, c := range rep.Checks {
		if !slices.Contains(out, c.Level) {
			out = append(out, c.Level)
		}
	}
	return out
}

// junitProperties are the report's properties every suite carries.
func junitProperties(rep *conformance.Report) []junitProperty {
	return []junitProperty{
		{"specVersion", rep.SpecVersion},
		{"toolVersion", rep.Tool.Name + " " + rep.Tool.Version},
		{"target", rep.Target},
		{"profile", rep.Profile.Name},
		{"profileSha256", rep.Profile.SHA256},
		{"goldensSha256", rep.Goldens.SHA256},
		{"seed", rep.Seed},
		{"verdict", string(rep.Verdict)},
	}
}

// junitSeconds writes a duration in seconds with millisecond precision,
// or "" when it is not a finite, non-negative number of milliseconds.
func junitSeconds(v float64, unit string) string {
	if unit != conformance.UnitMillisecond || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return ""
	}
	return strconv.FormatFloat(v/1000, 'f', 3, 64)
}

// evidenceText summarises a failed check's evidence as plain text for a
// CI log: the message, then one line per exchange, figure, case that did
// not pass and performance scenario.
func evidenceText(c conformance.Result) string {
	var b strings.Builder
	b.WriteString(c.Message)
	b.WriteString("\n")
	ev := c.Evidence
	for i, ex := range ev.Exchanges {
		if i == maxShownExchanges {
			fmt.Fprintf(&b, "... and %d more exchanges in report.json\n", len(ev.Exchanges)-i)
			break
		}
		fmt.Fprintf(&b, "exchange %d: %s\n", i+1, exchangeLine(ex))
		if ex.ResponseExcerpt != "" {
			fmt.Fprintf(&b, "  response: %s\n", strings.TrimSpace(oneLine(ex.ResponseExcerpt)))
		}
	}
	for _, k := range sortedKeys(ev.Figures) {
		fmt.Fprintf(&b, "%s: %s\n", k, formatMeasure(ev.Figures[k]))
	}
	shown, more, worst := shownCases(ev.Cases)
	for _, cs := range shown {
		label := "case"
		if worst {
			label = "closest case"
		}
		fmt.Fprintf(&b, "%s %s: %s", label, caseLine(cs), cs.Status)
		if cs.Message != "" {
			fmt.Fprintf(&b, ": %s", cs.Message)
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(&b, "... and %d more cases that did not pass in report.json\n", more)
	}
	if ev.TLS != nil {
		for _, line := range tlsLines(ev.TLS) {
			b.WriteString(line + "\n")
		}
	}
	for _, sc := range ev.Performance {
		fmt.Fprintf(&b, "%s on %s: %s: %s; %s %s, budget %s\n", sc.Scenario, modelLabel(sc.Model, sc.Version), sc.Status, sc.Message, sc.Basis, formatMeasure(sc.Measured), formatMeasure(sc.Budget))
		if sc.Result != nil && sc.Result.Doubt != "" {
			fmt.Fprintf(&b, "  doubt: %s\n", sc.Result.Doubt)
		}
	}
	return b.String()
}
