package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/aiconform/aiconform/conformance"
)

// The "type" member of each NDJSON line.
const (
	// NDJSONCheck is a line about one finished check.
	NDJSONCheck = "check"
	// NDJSONEnd is the last line of a run.
	NDJSONEnd = "end"
)

// NDJSONStream writes a run as newline-delimited JSON for log pipelines:
// one JSON object per line, each written with a single Write, with a
// "type" member. A "check" line has the members of the check's result
// exactly as report.json has them, beside "index" and "total" (its place
// among the run's checks); the "end" line has every member of the report
// but its checks (target, profile, seed, level verdicts, verdict, summary,
// claim, stopped, warnings, ...).
//
// A check line is the result as the check finished; the end line's
// verdicts are authoritative: a run that gives up on its target turns the
// failures that led up to it into errors, which the check lines written
// before do not show (report.json does).
//
// Its methods may be called from several goroutines; lines never
// interleave.
type NDJSONStream struct {
	mu sync.Mutex
	w  io.Writer
}

// NewNDJSONStream returns a stream that writes to w.
func NewNDJSONStream(w io.Writer) *NDJSONStream { return &NDJSONStream{w: w} }

// ndjsonCheckLine is a check line: the result's members follow "type",
// "index" and "total".
type ndjsonCheckLine struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Total int    `json:"total"`
	*conformance.Result
}

// ndjsonEndLine is the end line: the report's members follow "type",
// and the report's checks are left out (Checks, nil and omitted, hides
// the report's own).
type ndjsonEndLine struct {
	Type string `json:"type"`
	*conformance.Report
	Checks []conformance.Result `json:"checks,omitempty"`
}

// Check writes a line for a finished check; it ignores the event of a
// check starting (whose Result is nil). Its signature fits
// conformance.Options.Progress once the error is handled.
func (s *NDJSONStream) Check(ev conformance.ProgressEvent) error {
	if ev.Result == nil {
		return nil
	}
	return s.line(ndjsonCheckLine{Type: NDJSONCheck, Index: ev.Index, Total: ev.Total, Result: ev.Result})
}

// End writes the last line: how the run ended.
func (s *NDJSONStream) End(rep *conformance.Report) error {
	return s.line(ndjsonEndLine{Type: NDJSONEnd, Report: rep})
}

// line writes v as one line with a single Write. JSON escapes every line
// break inside strings, so the only newline is the last byte.
func (s *NDJSONStream) line(v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as report.json
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("reports: encoding an NDJSON line: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reports: writing an NDJSON line: %w", err)
	}
	return nil
}

// NDJSON writes a finished report as the stream a run would have written:
// a check line per check, in order, then the end line.
func NDJSON(w io.Writer, rep *conformance.Report) error {
	s := NewNDJSONStream(w)
	for i := range rep.Checks {
		c := &rep.Checks[i]
		if err := s.Check(conformance.ProgressEvent{Index: i + 1, Total: len(rep.Checks), ID: c.ID, Result: c}); err != nil {
			return err
		}
	}
	return s.End(rep)
}
