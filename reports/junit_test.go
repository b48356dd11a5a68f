package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/tooltest"
	"github.com/aiconform/aiconform/spec"
)

// junitXSD is the JUnit schema the rendering validates against.
const junitXSD = "testdata/junit/junit-10.xsd"

// xmllint returns the path of xmllint; see tooltest.Require.
func xmllint(t *testing.T) string {
	t.Helper()
	return tooltest.Require(t, "xmllint", "xmllint is not installed (Debian package libxml2-utils), so the JUnit XML is not validated against "+junitXSD)
}

// validateJUnit runs xmllint --noout --schema junitXSD on doc.
func validateJUnit(t *testing.T, lint string, doc []byte) error {
	t.Helper()
	f := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lint, "--noout", "--schema", junitXSD, f).CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	return nil
}

// controlReport is sample() with characters XML 1.0 cannot hold (NUL,
// escape, other C0 controls, U+FFFE, invalid UTF-8) in its strings.
func controlReport() *conformance.Report {
	const bad = "nul\x00 bell\x07 esc\x1b[31m vt\x0b ff\x0c del\x7f nonchar\uFFFE invalid\xff\xfe end]]>"
	rep := sample()
	rep.Target = bad
	rep.Seed = bad
	rep.Checks[0].ID = "api/health-live" + bad
	rep.Checks[1].Message = bad
	rep.Checks[1].Requirements = []string{bad}
	rep.Checks[1].Evidence.Exchanges = []conformance.Exchange{{Method: "POST", Path: bad, StatusCode: 500, ResponseExcerpt: bad, Error: bad}}
	rep.Checks[2].Message = bad
	return rep
}

func TestJUnitSchema(t *testing.T) {
	lint := xmllint(t)
	for _, tt := range []struct {
		name string
		rep  *conformance.Report
	}{
		{"fixture", fixture(t)},
		{"sample", sample()},
		{"injection text", injectionReport()},
		{"control characters", controlReport()},
		{"no checks", &conformance.Report{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JUnit(&b, tt.rep); err != nil {
				t.Fatal(err)
			}
			if err := validateJUnit(t, lint, b.Bytes()); err != nil {
				t.Errorf("the JUnit XML does not validate against %s:\n%s\n%s", junitXSD, err, b.String())
			}
		})
	}
	// The validation can fail: a testcase without its name breaks the
	// schema.
	bad := []byte(`<?xml version="1.0"?><testsuites><testsuite name="core" tests="1" failures="0" errors="0"><testcase/></testsuite></testsuites>`)
	if err := validateJUnit(t, lint, bad); err == nil {
		t.Error("xmllint accepted a testcase without a name")
	}
}

// The JUnit document as a CI system reads it, declared apart from the
// renderer's types so that the test does not share their mistakes.
type (
	readSuites struct {
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Suites   []readSuite `xml:"testsuite"`
	}
	readSuite struct {
		Name       string `xml:"name,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Errors     int    `xml:"errors,attr"`
		Skipped    int    `xml:"skipped,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string       `xml:"name,attr"`
			Classname string       `xml:"classname,attr"`
			Failure   *readOutcome `xml:"failure"`
			Error     *readOutcome `xml:"error"`
			Skipped   *readOutcome `xml:"skipped"`
		} `xml:"testcase"`
	}
	readOutcome struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

func readJUnit(t *testing.T, doc []byte) readSuites {
	t.Helper()
	var got readSuites
	if err := xml.Unmarshal(doc, &got); err != nil {
		t.Fatalf("the JUnit XML does not parse: %v\n%s", err, doc)
	}
	return got
}

// TestJUnitCounts: the counts of each suite are those of its level's
// checks, the totals those of the report's summary, and each testcase is
// its check.
func TestJUnitCounts(t *testing.T) {
	for _, rep := range []*conformance.Report{fixture(t), sample()} {
		var b bytes.Buffer
		if err := JUnit(&b, rep); err != nil {
			t.Fatal(err)
		}
		got := readJUnit(t, b.Bytes())
		s := rep.Summary
		if got.Tests != s.Total || got.Failures != s.Fail || got.Errors != s.Error {
			t.Errorf("totals tests %d failures %d errors %d, the summary %+v", got.Tests, got.Failures, got.Errors, s)
		}
		var sum conformance.Summary
		var cases []string
		for _, suite := range got.Suites {
			var want conformance.Summary
			for _, c := range rep.Checks {
				if string(c.Level) != suite.Name {
					continue
				}
				want.Total++
				switch c.Status {
				case spec.Pass:
					want.Pass++
				case spec.Fail:
					want.Fail++
				case spec.Skip:
					want.Skip++
				case spec.Error:
					want.Error++
				}
			}
			if suite.Tests != want.Total || suite.Failures != want.Fail || suite.Errors != want.Error || suite.Skipped != want.Skip || len(suite.Cases) != want.Total {
				t.Errorf("suite %s: tests %d failures %d errors %d skipped %d with %d testcases, its checks %+v",
					suite.Name, suite.Tests, suite.Failures, suite.Errors, suite.Skipped, len(suite.Cases), want)
			}
			sum.Total += suite.Tests
			sum.Fail += suite.Failures
			sum.Error += suite.Errors
			sum.Skip += suite.Skipped
			if suite.Timestamp != rep.StartTime.UTC().Format("2006-01-02T15:04:05Z07:00") {
				t.Errorf("suite %s: timestamp %s, the report started at %s", suite.Name, suite.Timestamp, rep.StartTime)
			}
			props := map[string]string{}
			for _, p := range suite.Properties {
				props[p.Name] = p.Value
			}
			for name, want := range map[string]string{"specVersion": rep.SpecVersion, "target": rep.Target, "profileSha256": rep.Profile.SHA256,
				"goldensSha256": rep.Goldens.SHA256, "seed": rep.Seed, "verdict": string(rep.Verdict), "levelVerdict": string(rep.Levels[spec.Level(suite.Name)])} {
				if props[name] != want {
					t.Errorf("suite %s: property %s = %q, want %q", suite.Name, name, props[name], want)
				}
			}
			for _, tc := range suite.Cases {
				cases = append(cases, tc.Name)
			}
		}
		if sum.Total != s.Total || sum.Fail != s.Fail || sum.Error != s.Error || sum.Skip != s.Skip {
			t.Errorf("the suites add up to %+v, the summary is %+v", sum, s)
		}
		// Every check is a testcase, once, with its outcome.
		byID := map[string]conformance.Result{}
		for _, c := range rep.Checks {
			byID[c.ID] = c
		}
		if len(cases) != len(rep.Checks) || len(byID) != len(rep.Checks) {
			t.Errorf("%d testcases for %d checks", len(cases), len(rep.Checks))
		}
		for _, suite := range got.Suites {
			for _, tc := range suite.Cases {
				c, ok := byID[tc.Name]
				if !ok {
					t.Errorf("testcase %s is no check", tc.Name)
					continue
				}
				if tc.Classname != strings.Join(c.Requirements, " ") {
					t.Errorf("%s: classname %q, requirements %v", c.ID, tc.Classname, c.Requirements)
				}
				outcome := map[spec.Status]*readOutcome{spec.Fail: tc.Failure, spec.Error: tc.Error, spec.Skip: tc.Skipped}
				for st, o := range outcome {
					if (o != nil) != (c.Status == st) {
						t.Errorf("%s (%s): <%s> present %v", c.ID, c.Status, st, o != nil)
						continue
					}
					if o != nil && o.Message != c.Message {
						t.Errorf("%s: message %q, want %q", c.ID, o.Message, c.Message)
					}
					if o != nil && st != spec.Skip && (o.Type != string(st) || !strings.HasPrefix(o.Text, c.Message+"\n")) {
						t.Errorf("%s: type %q, text %q", c.ID, o.Type, o.Text)
					}
				}
			}
		}
	}
}

// TestJUnitControlCharacters: what XML 1.0 cannot hold is written as
// U+FFFD, and the document stays well-formed.
func TestJUnitControlCharacters(t *testing.T) {
	var b bytes.Buffer
	if err := JUnit(&b, controlReport()); err != nil {
		t.Fatal(err)
	}
	doc := b.Bytes()
	if !utf8.Valid(doc) {
		t.Error("the document is not valid UTF-8")
	}
	for i, c := range doc {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			t.Errorf("raw control character %#x at byte %d", c, i)
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the document is not well-formed XML: %v\n%s", err, doc)
		}
	}
	got := readJUnit(t, doc)
	msg := got.Suites[0].Cases[1].Failure.Message
	if !strings.Contains(msg, "nul\uFFFD bell\uFFFD esc\uFFFD[31m") || !strings.Contains(msg, "invalid\uFFFD") || !strings.HasSuffix(msg, "end]]>") {
		t.Errorf("failure message %q", msg)
	}
	if lint, err := exec.LookPath("xmllint"); err == nil {
		if err := validateJUnit(t, lint, doc); err != nil {
			t.Errorf("xmllint: %s", err)
		}
	}
}
