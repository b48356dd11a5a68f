package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// writeRecorder records each Write call.
type writeRecorder struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// decodeObject decodes one JSON object into generic values.
func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// TestNDJSON: one JSON object per line, a check line per check carrying
// its result as report.json does, then one end line with the rest of the
// report.
func TestNDJSON(t *testing.T) {
	for _, rep := range []*conformance.Report{fixture(t), injectionReport()} {
		var w writeRecorder
		if err := NDJSON(&w, rep); err != nil {
			t.Fatal(err)
		}
		js, err := JSON(rep)
		if err != nil {
			t.Fatal(err)
		}
		whole := decodeObject(t, js)
		checks := whole["checks"].([]any)
		if len(w.writes) != len(rep.Checks)+1 {
			t.Fatalf("%d writes for %d checks, want one per check and the end", len(w.writes), len(rep.Checks))
		}
		for i, line := range w.writes {
			if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
				t.Errorf("write %d is not one line: %q", i, line)
			}
			obj := decodeObject(t, []byte(line))
			if i < len(rep.Checks) {
				if obj["type"] != NDJSONCheck || obj["index"] != float64(i+1) || obj["total"] != float64(len(rep.Checks)) {
					t.Errorf("line %d: type %v, index %v, total %v", i, obj["type"], obj["index"], obj["total"])
				}
				delete(obj, "type")
				delete(obj, "index")
				delete(obj, "total")
				if d := cmp.Diff(checks[i], any(obj)); d != "" {
					t.Errorf("line %d is not the check as report.json has it (-report.json +line):\n%s", i, d)
				}
				continue
			}
			if obj["type"] != NDJSONEnd {
				t.Errorf("the last line has type %v", obj["type"])
			}
			if _, ok := obj["checks"]; ok {
				t.Error("the end line repeats the checks")
			}
			delete(obj, "type")
			delete(whole, "checks")
			if d := cmp.Diff(whole, obj); d != "" {
				t.Errorf("the end line is not the report without its checks (-report.json +line):\n%s", d)
			}
			for _, k := range []string{"target", "profile", "seed", "levels", "verdict", "summary", "claim", "warnings"} {
				if _, ok := obj[k]; !ok {
					t.Errorf("the end line lacks %q", k)
				}
			}
		}
	}
}

// TestNDJSONStream: start events write nothing, a finished check writes
// its line as it finished, lines written at once do not interleave, and
// line breaks in text stay escaped.
func TestNDJSONStream(t *testing.T) {
	var w writeRecorder
	s := NewNDJSONStream(&w)
	res := conformance.Result{ID: "api/x", Requirements: []string{"OIP-X"}, Level: spec.Core, Status: spec.Fail,
		Message: "line\nbreak\r\u2028separator\u2029 </script>"}
	if err := s.Check(conformance.ProgressEvent{Index: 1, Total: 2, ID: "api/x"}); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 0 {
		t.Fatalf("a start event wrote %q", w.writes)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Check(conformance.ProgressEvent{Index: i + 1, Total: 8, ID: res.ID, Result: &res}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.End(&conformance.Report{Target: "http://t", Verdict: spec.VerdictFail, Stopped: "the target stopped answering"}); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 9 {
		t.Fatalf("%d writes, want 9", len(w.writes))
	}
	for _, line := range w.writes {
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || strings.ContainsAny(line, "\r\u2028\u2029") {
			t.Errorf("not one line: %q", line)
		}
		obj := decodeObject(t, []byte(line))
		if obj["type"] == NDJSONCheck && obj["message"] != res.Message {
			t.Errorf("message %q, want %q", obj["message"], res.Message)
		}
	}
	end := decodeObject(t, []byte(w.writes[8]))
	if end["type"] != NDJSONEnd || end["stopped"] != "the target stopped answering" || end["target"] != "http://t" {
		t.Errorf("end line %s", w.writes[8])
	}

	// A failed write is an error.
	s = NewNDJSONStream(failingWriter{})
	if err := s.Check(conformance.ProgressEvent{Result: &res}); err == nil {
		t.Error("a failed write is no error")
	}
	if err := NDJSON(failingWriter{}, sample()); err == nil {
		t.Error("a failed write is no error")
	}
	var buf bytes.Buffer
	if err := NDJSON(&buf, &conformance.Report{}); err != nil || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("a report without checks: %v, %q", err, buf.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
