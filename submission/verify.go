package submission

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// The checks of Verify, in the order it runs them.
const (
	CheckSignature = "signature"
	CheckSubjects  = "subjects"
	CheckSchemas   = "schemas"
	CheckFiles     = "files"
	CheckJUnit     = "junit"
	CheckVerdicts  = "verdicts"
	CheckClaim     = "claim"
	CheckGoldens   = "goldens"
	CheckProfile   = "profile"
	CheckModelCard = "model card"
	CheckPredicate = "predicate"
)

// Check is the outcome of one check of a bundle: what held, or every
// problem found.
type Check struct {
	Name string
	// Held says what was found to hold; empty when there are Problems.
	Held     string
	Problems []string
}

// OK reports whether the check found no problem.
func (c Check) OK() bool { return len(c.Problems) == 0 }

// Verification is the outcome of Verify: every check, in order.
type Verification struct {
	Checks []Check
}

// OK reports whether every check held.
func (v *Verification) OK() bool {
	for _, c := range v.Checks {
		if !c.OK() {
			return false
		}
	}
	return true
}

// Problems lists every problem as "check: problem".
func (v *Verification) Problems() []string {
	var out []string
	for _, c := range v.Checks {
		for _, p := range c.Problems {
			out = append(out, c.Name+": "+p)
		}
	}
	return out
}

// Check returns the named check's outcome.
func (v *Verification) Check(name string) Check {
	for _, c := range v.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{Name: name, Problems: []string{"not run"}}
}

// bundleCheck is the state of one verification.
type bundleCheck struct {
	b   *Bundle
	pub *attest.PublicKey
	out *Verification
	st  *attest.Statement
	doc *Document
	// rep is report.json as recorded; nil when it does not parse.
	rep *conformance.Report
	// derived is the report with what follows from its checks derived.
	derived *conformance.Report
	// names maps each role to its file in the bundle.
	names map[Role]string
}

// Verify re-checks a bundle as a reviewer would, with the submitter's
// public key: the signature of attestation.json; every subject's sha256,
// and that every other file of the bundle is a subject; the schema of
// submission.json, the report, profile, model card and golden manifest;
// that submission.json lists every file with its sha256; that junit.xml
// is well-formed with one testcase per check with its status; that the
// report's levels, verdict, summary, uncovered requirements, warnings and
// claims are those its checks give (conformance.Report.Derive, on a
// copy); that the claim rules hold at every claimed level; that the
// golden manifest is the published one (spec.PublishedGoldenManifest) and
// the one the report records; that the profile and model card are those
// the report records; and that the attestation's predicate agrees with
// the report. Every problem is named; a check that cannot run for want of
// what an earlier one could not read says so.
func Verify(b *Bundle, pub *attest.PublicKey) *Verification {
	c := &bundleCheck{b: b, pub: pub, out: &Verification{}, names: map[Role]string{}}
	c.run(CheckSignature, c.signature)
	c.run(CheckSubjects, c.subjects)
	c.run(CheckSchemas, c.schemas)
	c.run(CheckFiles, c.files)
	c.run(CheckJUnit, c.junit)
	c.run(CheckVerdicts, c.verdicts)
	c.run(CheckClaim, c.claim)
	c.run(CheckGoldens, c.goldens)
	c.run(CheckProfile, c.profile)
	c.run(CheckModelCard, c.modelCard)
	c.run(CheckPredicate, c.predicate)
	return c.out
}

// run records the outcome of one check.
func (c *bundleCheck) run(name string, f func() (string, []string)) {
	held, problems := f()
	if len(problems) > 0 {
		held = ""
	}
	c.out.Checks = append(c.out.Checks, Check{Name: name, Held: held, Problems: problems})
}

// notChecked is the problem of a check that cannot run without what an
// earlier check could not read.
func notChecked(why string) []string { return []string{"not checked: " + why} }

func (c *bundleCheck) signature() (string, []string) {
	env, ok := c.b.File(AttestationFile)
	if !ok {
		return "", []string{"the bundle has no " + AttestationFile}
	}
	st, err := attest.Open(AttestationFile, env, c.pub)
	if err != nil {
		return "", []string{err.Error()}
	}
	c.st = st
	return fmt.Sprintf("%s is signed by key %s", AttestationFile, c.pub.KeyID()), nil
}

func (c *bundleCheck) subjects() (string, []string) {
	if c.st == nil {
		return "", notChecked("the attestation did not verify")
	}
	var problems []string
	subjects := map[string]bool{}
	for _, r := range c.st.Check(c.b.files) {
		subjects[r.Name] = true
		if !r.OK() {
			problems = append(problems, r.String())
		}
	}
	for _, name := range c.b.Names() {
		if name != AttestationFile && !subjects[name] {
			problems = append(problems, fmt.Sprintf("%s is in the bundle but not a subject of the attestation", name))
		}
	}
	return fmt.Sprintf("every file of the bundle is attested with its sha256 (%d subjects)", len(subjects)), problems
}

func (c *bundleCheck) files() (string, []string) {
	if c.doc == nil {
		return "", notChecked("no readable " + DocumentFile)
	}
	var problems []string
	listed := map[string]bool{}
	for _, f := range c.doc.Files {
		listed[f.Path] = true
		switch data, ok := c.b.File(f.Path); {
		case slices.Contains(unlistedBundleFiles, f.Path):
			problems = append(problems, fmt.Sprintf("%s lists %s, which it may not: it lists neither itself, %s nor %s", DocumentFile, f.Path, ReadmeFile, AttestationFile))
		case !ok:
			problems = append(problems, fmt.Sprintf("%s lists %s (%s), which the bundle lacks", DocumentFile, f.Path, f.Role))
		case golden.Digest(data) != f.SHA256:
			problems = append(problems, fmt.Sprintf("%s: %s lists sha256 %s, the file has %s", f.Path, DocumentFile, f.SHA256, golden.Digest(data)))
		}
	}
	for _, name := range c.b.Names() {
		if !listed[name] && !slices.Contains(unlistedBundleFiles, name) {
			problems = append(problems, fmt.Sprintf("%s is in the bundle but not listed in %s", name, DocumentFile))
		}
	}
	for _, name := range unlistedBundleFiles {
		if _, ok := c.b.File(name); !ok {
			problems = append(problems, "the bundle has no "+name)
		}
	}
	return fmt.Sprintf("%s lists the bundle's %d files with their roles and sha256", DocumentFile, len(c.doc.Files)), problems
}

// readDocument reads submission.json and finds the file of each role by
// it, or by the usual names when it cannot say. It returns the problem
// with the document, if any.
func (c *bundleCheck) readDocument() string {
	data, ok := c.b.File(DocumentFile)
	if !ok {
		c.defaultNames()
		return "the bundle has no " + DocumentFile
	}
	doc, err := ParseDocument(DocumentFile, data)
	if err != nil {
		c.defaultNames()
		return err.Error()
	}
	c.doc = doc
	for _, f := range doc.Files {
		if _, dup := c.names[f.Role]; !dup {
			c.names[f.Role] = f.Path
		}
	}
	return ""
}

// defaultNames finds the role files by their usual names when
// submission.json cannot say.
func (c *bundleCheck) defaultNames() {
	c.names[RoleReport], c.names[RoleJUnit], c.names[RoleHTML], c.names[RoleGoldenManifest] = ReportFile, JUnitFile, HTMLFile, GoldenManifestFile
	for _, name := range c.b.Names() {
		base, _, _ := strings.Cut(name, ".")
		switch base {
		case profileFileBase:
			c.names[RoleProfile] = name
		case modelCardFileBase:
			c.names[RoleModelCard] = name
		}
	}
}

// file returns the name and bytes of the file of role r.
func (c *bundleCheck) file(r Role) (string, []byte, bool) {
	name, ok := c.names[r]
	if !ok {
		return "", nil, false
	}
	data, ok := c.b.File(name)
	return name, data, ok
}

func (c *bundleCheck) schemas() (string, []string) {
	var problems []string
	if p := c.readDocument(); p != "" {
		problems = append(problems, p)
	}
	name, data, ok := c.file(RoleReport)
	if !ok {
		problems = append(problems, "the bundle has no report")
	} else if rep, err := reports.Parse(name, data); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.rep = rep
		if c.derived, err = derive(data); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if name, data, ok := c.file(RoleProfile); !ok {
		problems = append(problems, "the bundle has no profile")
	} else if _, err := conformance.ParseProfile(name, data); err != nil {
		problems = append(problems, err.Error())
	}
	if name, data, ok := c.file(RoleModelCard); ok {
		if err := validate(name, data, "modelcard"); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if name, data, ok := c.file(RoleGoldenManifest); !ok {
		problems = append(problems, "the bundle has no golden manifest")
	} else if err := validate(name, data, golden.Kind); err != nil {
		problems = append(problems, err.Error())
	}
	return "submission.json, the report, profile, model card and golden manifest validate against their schemas", problems
}

func (c *bundleCheck) junit() (string, []string) {
	if c.rep == nil {
		return "", notChecked("no readable report")
	}
	_, data, ok := c.file(RoleJUnit)
	if !ok {
		return "", []string{"the bundle has no " + JUnitFile}
	}
	return checkJUnit(data, c.rep)
}

func (c *bundleCheck) verdicts() (string, []string) {
	if c.rep == nil || c.derived == nil {
		return "", notChecked("no readable report")
	}
	problems := derivedDiffs(c.rep, c.derived)
	return "the report's levels, verdict, summary, uncovered requirements, warnings and claims follow from its checks", problems
}

func (c *bundleCheck) claim() (string, []string) {
	switch {
	case c.derived == nil:
		return "", notChecked("no readable report")
	case c.doc == nil:
		return "", notChecked("no readable " + DocumentFile)
	}
	if _, err := ClaimLevels(c.derived, c.doc.ClaimedLevels); err != nil {
		var ce *ClaimError
		if !errors.As(err, &ce) {
			return "", []string{err.Error()}
		}
		var problems []string
		for _, l := range slices.Sorted(maps.Keys(ce.Reasons)) {
			problems = append(problems, fmt.Sprintf("claimed level %s is not supported by the report's checks: %s", l, strings.Join(ce.Reasons[l], "; ")))
		}
		return "", problems
	}
	return "the claim rules hold at every claimed level (" + levelList(c.doc.ClaimedLevels) + ")", nil
}

func (c *bundleCheck) goldens() (string, []string) {
	name, data, ok := c.file(RoleGoldenManifest)
	if !ok {
		return "", []string{"the bundle has no golden manifest"}
	}
	got, pub := golden.Digest(data), spec.PublishedGoldenManifest()
	var problems []string
	if got != pub.SHA256 {
		problems = append(problems, fmt.Sprintf("%s has sha256 %s, the published golden manifest of spec %s (%s) has %s: the run did not compare against the published goldens", name, got, spec.Version, pub.Path, pub.SHA256))
	}
	if c.rep != nil && c.rep.Goldens.SHA256 != got {
		problems = append(problems, fmt.Sprintf("%s has sha256 %s, the report records goldens.sha256 %q", name, got, c.rep.Goldens.SHA256))
	}
	return fmt.Sprintf("%s is the published golden manifest of spec %s (sha256 %s)", name, spec.Version, got), problems
}

func (c *bundleCheck) profile() (string, []string) {
	if c.rep == nil {
		return "", notChecked("no readable report")
	}
	name, data, ok := c.file(RoleProfile)
	if !ok {
		return "", []string{"the bundle has no profile"}
	}
	if got := golden.Digest(data); got != c.rep.Profile.SHA256 {
		return "", []string{fmt.Sprintf("%s has sha256 %s, the report records profile.sha256 %s", name, got, c.rep.Profile.SHA256)}
	}
	return fmt.Sprintf("%s is the profile the report records (sha256 %s)", name, c.rep.Profile.SHA256), nil
}

func (c *bundleCheck) modelCard() (string, []string) {
	if c.rep == nil {
		return "", notChecked("no readable report")
	}
	name, data, ok := c.file(RoleModelCard)
	switch {
	case c.rep.ModelCard == nil && !ok:
		return "the report names no model card, and the bundle holds none", nil
	case c.rep.ModelCard == nil:
		return "", []string{fmt.Sprintf("the bundle holds the model card %s, but the report names none", name)}
	case !ok:
		return "", []string{fmt.Sprintf("the report names the model card %s (sha256 %s), which the bundle lacks", c.rep.ModelCard.Source, c.rep.ModelCard.SHA256)}
	}
	if got := golden.Digest(data); got != c.rep.ModelCard.SHA256 {
		return "", []string{fmt.Sprintf("%s has sha256 %s, the report records modelCard.sha256 %s", name, got, c.rep.ModelCard.SHA256)}
	}
	return fmt.Sprintf("%s is the model card the report records (sha256 %s)", name, c.rep.ModelCard.SHA256), nil
}

func (c *bundleCheck) predicate() (string, []string) {
	switch {
	case c.st == nil:
		return "", notChecked("the attestation did not verify")
	case c.rep == nil:
		return "", notChecked("no readable report")
	}
	return "the attestation's predicate agrees with the report", c.st.Predicate.Diff(attest.PredicateOf(c.rep))
}

// derivedDiffs names every member of what Derive computes in which the
// report as recorded differs from what its checks give: one
// "member: report.json has X, its checks give Y" each. Empty lists and
// absent members are alike.
func derivedDiffs(recorded, derived *conformance.Report) []string {
	var out []string
	for _, m := range []struct {
		name string
		r, d any
	}{
		{"levels", recorded.Levels, derived.Levels},
		{"verdict", recorded.Verdict, derived.Verdict},
		{"summary", recorded.Summary, derived.Summary},
		{"uncovered", recorded.Uncovered, derived.Uncovered},
		{"warnings", recorded.Warnings, derived.Warnings},
		{"claim", claimsByLevel(recorded.Claim), claimsByLevel(derived.Claim)},
	} {
		diffValues(m.name, jsonValue(m.r), jsonValue(m.d), &out)
	}
	return out
}

// claimsByLevel keys claims by level, so that a difference is named by
// its level rather than its position.
func claimsByLevel(cs []conformance.LevelClaim) map[spec.Level]conformance.LevelClaim {
	out := make(map[spec.Level]conformance.LevelClaim, len(cs))
	for _, c := range cs {
		out[c.Level] = c
	}
	return out
}

// jsonValue returns v as its generic JSON value.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Sprintf("undecodable: %v", err)
	}
	return out
}

// diffValues appends "path: report.json has R, its checks give D" for
// every place where the generic JSON values r and d differ, descending
// into objects; arrays differ as a whole.
func diffValues(path string, r, d any, out *[]string) {
	if empty(r) && empty(d) {
		return
	}
	rm, rok := r.(map[string]any)
	dm, dok := d.(map[string]any)
	if rok && dok {
		keys := map[string]bool{}
		for k := range rm {
			keys[k] = true
		}
		for k := range dm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			diffValues(path+"."+k, rm[k], dm[k], out)
		}
		return
	}
	if !reflect.DeepEqual(r, d) {
		*out = append(*out, fmt.Sprintf("%s: %s has %s, its checks give %s", path, ReportFile, compact(r), compact(d)))
	}
}

// empty reports whether v is absent, null, or an empty array or object.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// compact renders a generic JSON value for a message.
func compact(v any) string {
	if v == nil {
		return "nothing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
