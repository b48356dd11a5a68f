// Package reportfixture writes, for tests, a report.json whose verdicts,
// summary, uncovered requirements, warnings and claims follow from its
// checks, beside the profile and model card it names and with the golden
// manifest it was given: the inputs of signing and of a submission.
package reportfixture

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// The files Write writes, beside report.json.
const (
	ProfileFile   = "acme.yaml"
	ModelCardFile = "acme.modelcard.yaml"
)

// ClaimableLevels are the levels the fixture's report supports a claim
// at; it requests the performance level too, which fails.
var ClaimableLevels = []spec.Level{spec.Core, spec.Safety}

// profileYAML is the fixture's profile; the model card is the built-in
// profile's, copied.
const profileYAML = `kind: profile
specVersion: v1
name: acme
levels: [core, performance, safety]
goldens: builtin
modelCard: ` + ModelCardFile + `
models:
  - {name: seed-cnn, version: fp32, reference: seed-cnn, referenceVersion: fp32}
`

// Fixture is what Write wrote.
type Fixture struct {
	// Dir holds the files; Report, Profile and ModelCard are their paths.
	Dir       string
	Report    string
	Profile   string
	ModelCard string
	// Rep is the report as written.
	Rep *conformance.Report
}

// Write writes report.json, the profile and the model card into dir. The
// report's goldens are "builtin", with the sha256 of goldens' manifest.json.
// Its checks pass every MUST requirement of the core and safety levels
// (SEC-TLS skipped as not applicable), fail LAT-SINGLE-STREAM and err on
// the SHOULD requirement LAT-CACHE-AUDIT, so that the core and safety
// levels pass and are claimable, the performance level fails, and the
// report has a warning and uncovered requirements.
func Write(t testing.TB, dir string, goldens fs.FS) *Fixture {
	t.Helper()
	manifest, err := fs.ReadFile(goldens, golden.ManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	_, card, ok := conformance.BuiltinDocument(conformance.BuiltinSource + ":reference.modelcard.yaml")
	if !ok {
		t.Fatal("the built-in model card is missing")
	}
	f := &Fixture{Dir: dir, Report: filepath.Join(dir, reports.JSONFile),
		Profile: filepath.Join(dir, ProfileFile), ModelCard: filepath.Join(dir, ModelCardFile)}
	for p, b := range map[string][]byte{f.Profile: []byte(profileYAML), f.ModelCard: card} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conformance.LoadProfile(f.Profile); err != nil {
		t.Fatalf("the fixture's profile: %v", err)
	}
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rep := &conformance.Report{
		Kind: conformance.ReportKind, SpecVersion: spec.Version,
		Tool:            conformance.Tool{Name: "aiconform", Version: "1.2.3"},
		Target:          "http://127.0.0.1:8000",
		Profile:         conformance.ProfileRef{Name: "acme", Source: f.Profile, SHA256: golden.Digest([]byte(profileYAML))},
		Goldens:         conformance.DocumentRef{Source: conformance.BuiltinGoldens, SHA256: golden.Digest(manifest)},
		ModelCard:       &conformance.DocumentRef{Source: f.ModelCard, SHA256: golden.Digest(card)},
		StartTime:       start,
		EndTime:         start.Add(90 * time.Second),
		Duration:        conformance.Millis(90 * time.Second),
		RequestedLevels: []spec.Level{spec.Core, spec.Performance, spec.Safety},
		Seed:            "42",
		Checks:          checks(),
	}
	rep.Derive()
	if _, err := reports.WriteJSON(dir, rep); err != nil {
		t.Fatal(err)
	}
	f.Rep = rep
	return f
}

// checks are the fixture report's checks, one per requirement it cites.
func checks() []conformance.Result {
	var out []conformance.Result
	for _, req := range spec.MustLoad().Requirements {
		r := conformance.Result{ID: "fixture/" + strings.ToLower(req.ID), Requirements: []string{req.ID}, Level: req.Level,
			Status: spec.Pass, Message: req.Title + ": held", Duration: conformance.Millis(time.Millisecond)}
		switch {
		case req.ID == "SEC-TLS":
			r.Status, r.Message = spec.Skip, spec.NotApplicablePrefix+"the target is served over plain http"
		case req.ID == "LAT-SINGLE-STREAM":
			r.Status, r.Message = spec.Fail, "p90 latency 12 ms is over the budget of 10 ms"
		case req.ID == "LAT-CACHE-AUDIT":
			r.Status, r.Message = spec.Error, "the cache audit's second arm got no answer"
		case req.Level == spec.Performance:
			continue
		}
		out = append(out, r)
	}
	return out
}
