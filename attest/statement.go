// Package attest signs conformance reports as in-toto attestations and
// verifies them: an in-toto Statement v1 whose subjects are the report and
// the documents its run read (golden manifest, profile, model card) by
// sha256, and whose predicate is the report's outcome, in a DSSE envelope
// signed with Ed25519 (spec/v1/report.md, "Attestation").
package attest

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// The types of what an attestation holds.
const (
	// StatementType is the statement's _type.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType names the predicate this package writes.
	PredicateType = "https://aiconform.dev/attestation/report/v1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// DigestAlgorithm is the one digest every subject carries.
	DigestAlgorithm = "sha256"
)

// FileName is the attestation's name beside the report it attests.
const FileName = "attestation.json"

// Statement is an in-toto Statement v1 about a conformance report.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is a file the statement is about, by name and digest.
type Subject struct {
	Name string `json:"name"`
	// Digest maps an algorithm to the lowercase hex digest; this package
	// writes and requires DigestAlgorithm.
	Digest map[string]string `json:"digest"`
}

// SHA256 is the subject's sha256.
func (s Subject) SHA256() string { return s.Digest[DigestAlgorithm] }

// Predicate is what a report says of its run, in the form a verifier can
// hold against the report: the standard's and tool's versions, the target,
// the digests of the profile and golden manifest the run read, and the
// verdicts. PredicateOf computes it; it holds nothing else of the report.
type Predicate struct {
	SpecVersion   string                      `json:"specVersion"`
	Tool          conformance.Tool            `json:"tool"`
	Target        string                      `json:"target"`
	ProfileSHA256 string                      `json:"profileSha256"`
	GoldensSHA256 string                      `json:"goldensSha256"`
	Levels        map[spec.Level]spec.Verdict `json:"levels"`
	Verdict       spec.Verdict                `json:"verdict"`
}

// PredicateOf returns the predicate of rep.
func PredicateOf(rep *conformance.Report) Predicate {
	return Predicate{
		SpecVersion:   rep.SpecVersion,
		Tool:          rep.Tool,
		Target:        rep.Target,
		ProfileSHA256: rep.Profile.SHA256,
		GoldensSHA256: rep.Goldens.SHA256,
		Levels:        maps.Clone(rep.Levels),
		Verdict:       rep.Verdict,
	}
}

// Diff names every member in which p, as attested, differs from q, as
// the report has it: one "member: attested X, the report has Y" each.
func (p Predicate) Diff(q Predicate) []string {
	var out []string
	add := func(name string, a, b any) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: attested %q, the report has %q", name, a, b))
		}
	}
	add("specVersion", p.SpecVersion, q.SpecVersion)
	add("tool.name", p.Tool.Name, q.Tool.Name)
	add("tool.version", p.Tool.Version, q.Tool.Version)
	add("target", p.Target, q.Target)
	add("profileSha256", p.ProfileSHA256, q.ProfileSHA256)
	add("goldensSha256", p.GoldensSHA256, q.GoldensSHA256)
	levels := map[spec.Level]bool{}
	for l := range p.Levels {
		levels[l] = true
	}
	for l := range q.Levels {
		levels[l] = true
	}
	for _, l := range slices.Sorted(maps.Keys(levels)) {
		add("levels."+string(l), string(p.Levels[l]), string(q.Levels[l]))
	}
	add("verdict", string(p.Verdict), string(q.Verdict))
	return out
}
