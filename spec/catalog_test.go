package spec_test

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/spec"
)

// fixedIDs is the list of requirement IDs that version 1 of the standard
// fixes, by level: IDs are stable, so none may be dropped, renamed or moved
// to another level. It is written out here, not derived from the catalog,
// so that a dropped or renamed ID fails the test.
var fixedIDs = map[spec.Level][]string{
	spec.Core: {
		"OIP-HEALTH-LIVE", "OIP-HEALTH-READY", "OIP-MODEL-READY", "OIP-SERVER-META", "OIP-MODEL-META",
		"OIP-INFER-SCHEMA", "OIP-INFER-ID-ECHO", "OIP-OUTPUT-SELECT", "OIP-ERROR-FORMAT", "OIP-UNKNOWN-MODEL",
		"OIP-BINARY-DATA",
		"NUM-GOLDEN", "NUM-LIVE", "NUM-TOP1", "NUM-BATCH-INVARIANCE", "NUM-DETERMINISM", "NUM-OUTPUT-VALID",
	},
	spec.Performance: {
		"LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE", "LAT-CACHE-AUDIT",
	},
	spec.Safety: {
		"SAFE-MALFORMED-JSON", "SAFE-WRONG-SHAPE", "SAFE-WRONG-DTYPE", "SAFE-SHAPE-DATA-MISMATCH",
		"SAFE-MISSING-INPUT", "SAFE-NONFINITE", "SAFE-OVERSIZE", "SAFE-ERROR-HYGIENE", "SAFE-SURVIVES-ABUSE",
		"SEC-AUTH-REQUIRED", "SEC-NO-SECRET-ECHO", "SEC-TLS",
	},
}

// levelOfPrefix is the level each ID area belongs to (spec/v1/README.md).
var levelOfPrefix = map[string]spec.Level{
	"OIP": spec.Core, "NUM": spec.Core, "LAT": spec.Performance, "SAFE": spec.Safety, "SEC": spec.Safety,
}

var idPattern = regexp.MustCompile(`^[A-Z]+(-[A-Z0-9]+)+$`)

func mustLoad(t *testing.T) *spec.Catalog {
	t.Helper()
	c, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogHeader(t *testing.T) {
	c := mustLoad(t)
	if c.Kind != "requirements" {
		t.Errorf("kind = %q, want %q", c.Kind, "requirements")
	}
	if c.SpecVersion != spec.Version {
		t.Errorf("specVersion = %q, want %q (spec.Version)", c.SpecVersion, spec.Version)
	}
	var ids []spec.Level
	for _, l := range c.Levels {
		ids = append(ids, l.ID)
		if l.Title == "" || l.Description == "" {
			t.Errorf("level %q: title and description are required", l.ID)
		}
	}
	if !slices.Equal(ids, spec.Levels) {
		t.Errorf("levels = %v, want %v (spec.Levels, in report order)", ids, spec.Levels)
	}
}

func TestCatalogHasExactlyTheFixedIDs(t *testing.T) {
	c := mustLoad(t)
	want := map[string]spec.Level{}
	for l, ids := range fixedIDs {
		for _, id := range ids {
			want[id] = l
		}
	}
	seen := map[string]int{}
	for i, r := range c.Requirements {
		if j, dup := seen[r.ID]; dup {
			t.Errorf("/requirements/%d: ID %s repeats /requirements/%d", i, r.ID, j)
		}
		seen[r.ID] = i
		l, ok := want[r.ID]
		if !ok {
			t.Errorf("/requirements/%d: ID %s is not in the fixed list of v1 IDs", i, r.ID)
			continue
		}
		if r.Level != l {
			t.Errorf("%s: level %q, want %q", r.ID, r.Level, l)
		}
	}
	for id := range want {
		if _, ok := seen[id]; !ok {
			t.Errorf("ID %s of the fixed list of v1 IDs is missing from the catalog", id)
		}
	}
}

func TestRequirementFields(t *testing.T) {
	c := mustLoad(t)
	levels := map[spec.Level]int{}
	for _, r := range c.Requirements {
		levels[r.Level]++
		if !idPattern.MatchString(r.ID) {
			t.Errorf("%s: ID does not match %s", r.ID, idPattern)
		}
		area, _, _ := strings.Cut(r.ID, "-")
		if l, ok := levelOfPrefix[area]; !ok {
			t.Errorf("%s: unknown area %q", r.ID, area)
		} else if r.Level != l {
			t.Errorf("%s: level %q, but %s-* requirements belong to %q", r.ID, r.Level, area, l)
		}
		switch r.Strength {
		case spec.Must, spec.Should:
			if !regexp.MustCompile(`\b` + string(r.Strength) + `\b`).MatchString(r.Text) {
				t.Errorf("%s: strength %s, but the text does not use %s: %q", r.ID, r.Strength, r.Strength, r.Text)
			}
		default:
			t.Errorf("%s: strength %q, want MUST or SHOULD", r.ID, r.Strength)
		}
		for field, v := range map[string]string{"title": r.Title, "text": r.Text, "rationale": r.Rationale, "anchor": r.Anchor, "doc": r.Doc} {
			if strings.TrimSpace(v) == "" || strings.Contains(v, "TODO") {
				t.Errorf("%s: %s is %q, want finished text", r.ID, field, v)
			}
		}
		if want := strings.ToLower(r.ID); !strings.HasSuffix(r.Doc, "#"+want) {
			t.Errorf("%s: doc %q, want a link to the heading #%s", r.ID, r.Doc, want)
		}
	}
	for _, l := range spec.Levels {
		if levels[l] == 0 {
			t.Errorf("level %q has no requirement", l)
		}
	}
}

// TestApplicability pins the requirements that hold only under a
// condition: the rest always apply, and a check may skip them as not
// applicable on no grounds.
func TestApplicability(t *testing.T) {
	conditional := map[string]string{
		"OIP-BINARY-DATA":   "binary_tensor_data",
		"LAT-SINGLE-STREAM": "latency.singleStreamP90",
		"LAT-SERVER":        "latency.serverQPS",
		"LAT-OFFLINE":       "latency.offlineMinThroughput",
		"LAT-CACHE-AUDIT":   "LAT-SINGLE-STREAM",
		"SEC-AUTH-REQUIRED": "auth.scheme",
		"SEC-TLS":           "https",
	}
	for _, r := range mustLoad(t).Requirements {
		word, ok := conditional[r.ID]
		switch {
		case ok && !strings.Contains(r.AppliesWhen, word):
			t.Errorf("%s: appliesWhen %q, want a condition on %s", r.ID, r.AppliesWhen, word)
		case !ok && r.AppliesWhen != "":
			t.Errorf("%s: appliesWhen %q, want none (it always applies)", r.ID, r.AppliesWhen)
		}
	}
}

// TestBindings: every requirement says, for every protocol binding,
// whether it applies over it, with a reason where it does not; and the
// requirements that have no meaning over gRPC are exactly those pinned
// here, each with a reason that names what the binding lacks.
func TestBindings(t *testing.T) {
	notOverGRPC := map[string]string{"SAFE-MALFORMED-JSON": "JSON"}
	for _, r := range mustLoad(t).Requirements {
		for b := range r.Bindings {
			if !slices.Contains(spec.Bindings, b) {
				t.Errorf("%s: bindings name %q, which is not a binding of the standard (%v)", r.ID, b, spec.Bindings)
			}
		}
		for _, b := range spec.Bindings {
			a, ok := r.Bindings[b]
			switch {
			case !ok:
				t.Errorf("%s: bindings do not say whether it applies over %s", r.ID, b.Name())
			case a.Applies && a.Reason != "":
				t.Errorf("%s: applies over %s but gives a reason %q", r.ID, b.Name(), a.Reason)
			case !a.Applies && strings.TrimSpace(a.Reason) == "":
				t.Errorf("%s: not applicable over %s without a reason", r.ID, b.Name())
			}
			why, na := r.NotApplicableOver(b)
			if na != (ok && !a.Applies) || why != a.Reason {
				t.Errorf("%s: NotApplicableOver(%s) = %q, %v; the catalog says %+v", r.ID, b, why, na, a)
			}
		}
		if why, na := r.NotApplicableOver(spec.REST); na {
			t.Errorf("%s: not applicable over REST (%s); every requirement of v1 was written for it", r.ID, why)
		}
		word, pinned := notOverGRPC[r.ID]
		switch why, na := r.NotApplicableOver(spec.GRPC); {
		case pinned && !na:
			t.Errorf("%s: applies over gRPC, want not applicable (it has no meaning there)", r.ID)
		case pinned && !strings.Contains(why, word):
			t.Errorf("%s: not applicable over gRPC because %q, want a reason that names %s", r.ID, why, word)
		case !pinned && na:
			t.Errorf("%s: not applicable over gRPC (%s), want it to apply (or pin it here)", r.ID, why)
		}
	}
}

func TestToleranceClasses(t *testing.T) {
	c := mustLoad(t)
	seen := map[string]bool{}
	for _, tc := range c.ToleranceClasses {
		if seen[tc.ID] {
			t.Errorf("tolerance class %q repeats", tc.ID)
		}
		seen[tc.ID] = true
		for name, v := range map[string]float64{"rtol": tc.RTol, "atol": tc.ATol} {
			if !(v > 0 && v < 1) || math.IsInf(v, 0) {
				t.Errorf("class %s: %s = %v, want a value in (0, 1)", tc.ID, name, v)
			}
		}
		// A class says where its values come from: measured, or provisional
		// until measured.
		if d := strings.ToLower(tc.Description); !strings.Contains(d, "measured") && !strings.Contains(d, "provisional") {
			t.Errorf("class %s: description %q says neither that its values are measured nor that they are provisional", tc.ID, tc.Description)
		}
		tol, ok := spec.Tolerance(tc.ID)
		if !ok || tol.Class != tc.ID || tol.RTol != tc.RTol || tol.ATol != tc.ATol {
			t.Errorf("Tolerance(%q) = %+v, %v; want the catalog's values", tc.ID, tol, ok)
		}
	}
	for _, id := range []string{"fp32", "fp64"} {
		if !seen[id] {
			t.Errorf("tolerance class %q is missing", id)
		}
	}
	// A wider datatype gets a tighter class.
	f32, _ := spec.Tolerance("fp32")
	f64, _ := spec.Tolerance("fp64")
	if !(f64.RTol < f32.RTol && f64.ATol < f32.ATol) {
		t.Errorf("fp64 %v is not tighter than fp32 %v", f64, f32)
	}
	if _, ok := spec.Tolerance("fp16"); ok {
		t.Error(`Tolerance("fp16") found a class that does not exist`)
	}
}

func TestLookupAndIDs(t *testing.T) {
	r, ok := spec.Lookup("OIP-HEALTH-LIVE")
	if !ok || r.ID != "OIP-HEALTH-LIVE" || r.Doc != "api.md#oip-health-live" || r.Level != spec.Core {
		t.Errorf("Lookup(OIP-HEALTH-LIVE) = %+v, %v", r, ok)
	}
	if _, ok := spec.Lookup("OIP-NO-SUCH"); ok {
		t.Error("Lookup(OIP-NO-SUCH) found a requirement")
	}
	ids := spec.IDs()
	if !slices.IsSorted(ids) {
		t.Errorf("IDs() is not sorted: %v", ids)
	}
	n := 0
	for _, l := range fixedIDs {
		n += len(l)
	}
	if len(ids) != n {
		t.Errorf("IDs() has %d entries, want %d", len(ids), n)
	}
	for _, id := range ids {
		if _, ok := spec.Lookup(id); !ok {
			t.Errorf("Lookup(%s) fails for an ID that IDs() lists", id)
		}
	}
}
