// Package spec is the machine-readable side of the aiconform standard: the
// requirement catalog of spec/v1 (IDs, levels, MUST/SHOULD wording), the
// conformance levels, the tolerance classes and the result vocabulary.
package spec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/aiconform/aiconform/numerics"
)

// Version is the version of the standard this build implements.
const Version = "v1"

// CatalogJSON is spec/v1/requirements.json as embedded in the binary.
//
//go:embed v1/requirements.json
var CatalogJSON []byte

// Level is a conformance level.
type Level string

// The conformance levels of spec v1.
const (
	Core        Level = "core"
	Performance Level = "performance"
	Safety      Level = "safety"
)

// Levels lists the levels in the order reports show them.
var Levels = []Level{Core, Performance, Safety}

// Status is the result of one check.
type Status string

// The result vocabulary.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Skip  Status = "skip"
	Error Status = "error"
)

// NotApplicablePrefix begins the message of a skip whose cited requirements
// are not applicable to the target (spec/v1/README.md, "Check results");
// the rest of the message names the condition that is false.
const NotApplicablePrefix = "not applicable: "

// NotRunPrefix begins the message of a skip whose check did not run
// because the run was interrupted (spec/v1/report.md, "Interrupted runs").
const NotRunPrefix = "not run: "

// Verdict is a level's outcome in a report.
type Verdict string

// Level verdicts.
const (
	VerdictPass   Verdict = "pass"
	VerdictFail   Verdict = "fail"
	VerdictNotRun Verdict = "not-run"
)

// Strength is the RFC 2119 keyword of a requirement.
type Strength string

// Requirement strengths.
const (
	Must   Strength = "MUST"
	Should Strength = "SHOULD"
)

// Requirement is one entry of the catalog.
type Requirement struct {
	ID       string   `json:"id"`
	Level    Level    `json:"level"`
	Strength Strength `json:"strength"`
	Title    string   `json:"title"`
	Text     string   `json:"text"`
	// AppliesWhen, if set, is the condition under which the requirement
	// holds; where it is false the requirement is not applicable and its
	// checks are skipped with a reason that begins NotApplicablePrefix.
	AppliesWhen string `json:"appliesWhen,omitempty"`
	// Bindings says, for every protocol binding, whether the requirement
	// applies over it and, where it does not, why (spec/v1/bindings.md).
	Bindings  map[Binding]BindingApplicability `json:"bindings,omitempty"`
	Rationale string                           `json:"rationale"`
	Anchor    string                           `json:"anchor"`
	// Doc is the spec document and heading that defines it, e.g. "api.md#oip-health-live".
	Doc string `json:"doc"`
}

// Binding is a protocol binding of the Open Inference Protocol v2: how a
// request and its answer travel (spec/v1/bindings.md).
type Binding string

// The protocol bindings of spec v1.
const (
	REST Binding = "rest"
	GRPC Binding = "grpc"
)

// Bindings lists the protocol bindings of spec v1.
var Bindings = []Binding{REST, GRPC}

// Name is how the standard writes the binding: "REST" or "gRPC".
func (b Binding) Name() string {
	switch b {
	case REST:
		return "REST"
	case GRPC:
		return "gRPC"
	}
	return string(b)
}

// BindingApplicability says whether a requirement applies over one
// binding.
type BindingApplicability struct {
	Applies bool `json:"applies"`
	// Reason says why a requirement that does not apply over the binding
	// has no meaning there; empty where it applies.
	Reason string `json:"reason,omitempty"`
}

// NotApplicableOver returns why the requirement is not applicable over
// binding b, and whether it is not. A requirement applies over a binding
// its catalog entry does not name (the catalog's tests rule that out).
func (r Requirement) NotApplicableOver(b Binding) (string, bool) {
	a, ok := r.Bindings[b]
	if !ok || a.Applies {
		return "", false
	}
	return a.Reason, true
}

// ToleranceClass is a named acceptance rule for numeric comparisons.
type ToleranceClass struct {
	ID          string  `json:"id"`
	RTol        float64 `json:"rtol"`
	ATol        float64 `json:"atol"`
	Description string  `json:"description"`
}

// Tolerance returns the class as a comparison rule.
func (c ToleranceClass) Tolerance() numerics.Tolerance {
	return numerics.Tolerance{Class: c.ID, RTol: c.RTol, ATol: c.ATol}
}

// LevelInfo describes a conformance level.
type LevelInfo struct {
	ID          Level  `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Catalog is the decoded requirements.json.
type Catalog struct {
	Kind             string           `json:"kind"`
	SpecVersion      string           `json:"specVersion"`
	Levels           []LevelInfo      `json:"levels"`
	ToleranceClasses []ToleranceClass `json:"toleranceClasses"`
	Requirements     []Requirement    `json:"requirements"`
}

var (
	loadOnce sync.Once
	catalog  *Catalog
	loadErr  error
)

// Load returns the embedded catalog, decoded once. It errors only if the
// embedded file is malformed, which the package tests rule out.
func Load() (*Catalog, error) {
	loadOnce.Do(func() {
		var c Catalog
		dec := json.NewDecoder(bytes.NewReader(CatalogJSON))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			loadErr = fmt.Errorf("spec: embedded v1/requirements.json: %w", err)
			return
		}
		catalog = &c
	})
	return catalog, loadErr
}

// MustLoad is Load for callers that cannot proceed without the catalog.
func MustLoad() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Lookup returns the requirement with the given ID.
func Lookup(id string) (Requirement, bool) {
	for _, r := range MustLoad().Requirements {
		if r.ID == id {
			return r, true
		}
	}
	return Requirement{}, false
}

// IDs returns every requirement ID, sorted.
func IDs() []string {
	reqs := MustLoad().Requirements
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
	}
	sort.Strings(ids)
	return ids
}

// Tolerance returns the named tolerance class.
func Tolerance(class string) (numerics.Tolerance, bool) {
	for _, c := range MustLoad().ToleranceClasses {
		if c.ID == class {
			return c.Tolerance(), true
		}
	}
	return numerics.Tolerance{}, false
}
