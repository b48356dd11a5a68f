package submission

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// Input is what a bundle is built from.
type Input struct {
	// Files are the report and the documents its run read, as
	// attest.ReadReportFiles found and checked them.
	Files *attest.ReportFiles
	// Claim are the levels claimed; none claims every level the report
	// supports a claim at.
	Claim []spec.Level
	// Key signs the attestation.
	Key *attest.PrivateKey
}

// ClaimError refuses a claim the report does not support, with the
// reasons for each level.
type ClaimError struct {
	// Reasons maps each refused level to every rule it does not meet.
	Reasons map[spec.Level][]string
}

// Error lists each refused level with its reasons.
func (e *ClaimError) Error() string {
	var parts []string
	for _, l := range slices.Sorted(maps.Keys(e.Reasons)) {
		parts = append(parts, fmt.Sprintf("level %s: %s", l, strings.Join(e.Reasons[l], "; ")))
	}
	return "submission: the report does not support a claim at " + strings.Join(parts, "; and at ")
}

// ClaimLevels resolves the levels of a claim against rep's claims, which
// the caller has derived from its checks (conformance.Report.Derive):
// with no levels, every level the report supports a claim at (an error if
// none); otherwise the levels given, each of which the report must
// support, else a *ClaimError gives the reasons.
func ClaimLevels(rep *conformance.Report, levels []spec.Level) ([]spec.Level, error) {
	if len(levels) == 0 {
		for _, c := range rep.Claim {
			if c.Claimable {
				levels = append(levels, c.Level)
			}
		}
		if len(levels) == 0 {
			reasons := map[spec.Level][]string{}
			for _, c := range rep.Claim {
				reasons[c.Level] = c.Reasons
			}
			return nil, &ClaimError{Reasons: reasons}
		}
		return levels, nil
	}
	refused := map[spec.Level][]string{}
	var out []spec.Level
	for _, l := range levels {
		if slices.Contains(out, l) {
			continue
		}
		out = append(out, l)
		i := slices.IndexFunc(rep.Claim, func(c conformance.LevelClaim) bool { return c.Level == l })
		switch {
		case i < 0:
			refused[l] = []string{fmt.Sprintf("the run did not request level %s (it requested %s)", l, levelList(rep.RequestedLevels))}
		case !rep.Claim[i].Claimable:
			refused[l] = rep.Claim[i].Reasons
		}
	}
	if len(refused) > 0 {
		return nil, &ClaimError{Reasons: refused}
	}
	return out, nil
}

// Build assembles the bundle of in: the report as read, its JUnit and HTML
// renderings (reports.Render, so that they agree with it), the profile,
// the model card, the golden manifest, submission.json, README.md and the
// attestation, signed with in.Key over every other file. The claim is
// resolved by ClaimLevels against the claims the report's checks give.
// Build checks nothing else: Verify does.
func Build(in Input) (*Bundle, error) {
	rf := in.Files
	derived, err := derive(rf.ReportFile.Data)
	if err != nil {
		return nil, err
	}
	claim, err := ClaimLevels(derived, in.Claim)
	if err != nil {
		return nil, err
	}
	return assemble(rf, claim, in.Key)
}

// assemble builds the bundle of rf claiming levels. It does not hold the
// claim against the report: Build does, and tests make with it bundles
// that Verify must refuse.
func assemble(rf *attest.ReportFiles, levels []spec.Level, key *attest.PrivateKey) (*Bundle, error) {
	rep := rf.Report
	type part struct {
		role Role
		file attest.File
	}
	parts := []part{{RoleReport, attest.File{Name: ReportFile, Data: rf.ReportFile.Data}}}
	for _, r := range []struct {
		role   Role
		name   string
		format reports.Format
	}{{RoleJUnit, JUnitFile, reports.FormatJUnit}, {RoleHTML, HTMLFile, reports.FormatHTML}} {
		var b bytes.Buffer
		if err := reports.Render(&b, rep, r.format, reports.Options{}); err != nil {
			return nil, fmt.Errorf("submission: rendering %s: %w", r.name, err)
		}
		parts = append(parts, part{r.role, attest.File{Name: r.name, Data: b.Bytes()}})
	}
	parts = append(parts, part{RoleProfile, attest.File{Name: bundleName(profileFileBase, rf.Profile.Name, ".yaml"), Data: rf.Profile.Data}})
	if rf.ModelCard != nil {
		parts = append(parts, part{RoleModelCard, attest.File{Name: bundleName(modelCardFileBase, rf.ModelCard.Name, ".json"), Data: rf.ModelCard.Data}})
	}
	parts = append(parts, part{RoleGoldenManifest, attest.File{Name: GoldenManifestFile, Data: rf.Goldens.Data}})

	doc := &Document{Kind: Kind, SpecVersion: rep.SpecVersion, ClaimedLevels: levels}
	var files []attest.File
	for _, p := range parts {
		doc.Files = append(doc.Files, FileRef{Path: p.file.Name, Role: p.role, SHA256: golden.Digest(p.file.Data)})
		files = append(files, p.file)
	}
	docJSON, err := doc.encode()
	if err != nil {
		return nil, err
	}
	files = append(files, attest.File{Name: DocumentFile, Data: docJSON})
	files = append(files, attest.File{Name: ReadmeFile, Data: readme(rep, doc, docJSON, key.Public())})
	st, err := attest.NewStatement(rep, files)
	if err != nil {
		return nil, err
	}
	env, err := attest.Sign(st, key)
	if err != nil {
		return nil, err
	}
	files = append(files, attest.File{Name: AttestationFile, Data: env})
	return newBundle(files, rep.EndTime), nil
}

// derive parses a report.json afresh and derives its verdicts, summary,
// uncovered requirements, warnings and claims from its checks.
func derive(reportJSON []byte) (*conformance.Report, error) {
	rep, err := reports.Parse(ReportFile, reportJSON)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	rep.Derive()
	return rep, nil
}

// levelList joins levels for messages.
func levelList(levels []spec.Level) string {
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}
