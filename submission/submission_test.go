package submission

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/reportfixture"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// goldensFS is the published golden set, as the tool embeds it.
var goldensFS = os.DirFS(filepath.Join("..", "testdata", "goldens", spec.Version))

// fixture is a report's files and a key to sign its bundle with.
type fixture struct {
	fx  *reportfixture.Fixture
	rf  *attest.ReportFiles
	key *attest.PrivateKey
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	return fixtureOf(t, fx, attest.Sources{BuiltinGoldens: goldensFS})
}

func fixtureOf(t *testing.T, fx *reportfixture.Fixture, src attest.Sources) fixture {
	t.Helper()
	rf, err := attest.ReadReportFiles(fx.Report, src)
	if err != nil {
		t.Fatal(err)
	}
	key, err := attest.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{fx: fx, rf: rf, key: key}
}

func (f fixture) build(t *testing.T, claim ...spec.Level) *Bundle {
	t.Helper()
	b, err := Build(Input{Files: f.rf, Claim: claim, Key: f.key})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantHeld fails the test unless every check of v held.
func wantHeld(t *testing.T, v *Verification) {
	t.Helper()
	for _, p := range v.Problems() {
		t.Errorf("problem: %s", p)
	}
	if len(v.Checks) != 11 {
		t.Errorf("%d checks, want 11", len(v.Checks))
	}
}

// wantProblems fails the test unless v failed exactly the checks of want,
// each with a problem containing every string given for it.
func wantProblems(t *testing.T, v *Verification, want map[string][]string) {
	t.Helper()
	for _, c := range v.Checks {
		says, failing := want[c.Name]
		if failing == c.OK() {
			t.Errorf("check %s: problems %q, want failing %v", c.Name, c.Problems, failing)
			continue
		}
		all := strings.Join(c.Problems, "\n")
		for _, s := range says {
			if !strings.Contains(all, s) {
				t.Errorf("check %s: problems %q lack %q", c.Name, c.Problems, s)
			}
		}
	}
}

func TestBuildVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	b := f.build(t)
	wantNames := []string{ReadmeFile, AttestationFile, JUnitFile, GoldenManifestFile, "modelcard.yaml", "profile.yaml", HTMLFile, ReportFile, DocumentFile}
	if !slices.Equal(b.Names(), wantNames) {
		t.Errorf("files %v, want %v", b.Names(), wantNames)
	}
	if rep, _ := b.File(ReportFile); !bytes.Equal(rep, f.rf.ReportFile.Data) {
		t.Error("report.json is not the report as read")
	}
	docJSON, _ := b.File(DocumentFile)
	doc, err := ParseDocument(DocumentFile, docJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.ClaimedLevels, reportfixture.ClaimableLevels) {
		t.Errorf("claimed %v, want the claimable levels %v", doc.ClaimedLevels, reportfixture.ClaimableLevels)
	}
	readme, _ := b.File(ReadmeFile)
	for _, s := range []string{f.fx.Rep.Target, "aiconform v1", "aiconform 1.2.3", "core, safety", "| performance | yes | fail | not claimed |",
		"| core | yes | pass | **claimed** |", f.key.Public().KeyID(), "aiconform verify-submission BUNDLE --pub", golden.Digest(docJSON)} {
		if !strings.Contains(string(readme), s) {
			t.Errorf("README.md lacks %q", s)
		}
	}
	for _, ref := range doc.Files {
		if !strings.Contains(string(readme), "| "+ref.Path+" | ") || !strings.Contains(string(readme), ref.SHA256) {
			t.Errorf("README.md does not list %s with its sha256", ref.Path)
		}
	}
	wantHeld(t, Verify(b, f.key.Public()))

	// Written as a directory and as an archive, and read back.
	for _, out := range []string{filepath.Join(t.TempDir(), "bundle"), filepath.Join(t.TempDir(), "bundle.tar.gz")} {
		if err := b.Write(out); err != nil {
			t.Fatal(err)
		}
		back, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Names(), wantNames) {
			t.Errorf("%s: files %v", out, back.Names())
		}
		wantHeld(t, Verify(back, f.key.Public()))
		if err := b.Write(out); err == nil {
			t.Errorf("%s was written twice", out)
		}
	}
}

func TestBuildClaims(t *testing.T) {
	f := newFixture(t)
	docOf := func(b *Bundle) *Document {
		data, _ := b.File(DocumentFile)
		d, err := ParseDocument(DocumentFile, data)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got := docOf(f.build(t, spec.Safety)).ClaimedLevels; !slices.Equal(got, []spec.Level{spec.Safety}) {
		t.Errorf("claim safety: claimed %v", got)
	}
	_, err := Build(Input{Files: f.rf, Claim: []spec.Level{spec.Core, spec.Performance}, Key: f.key})
	var ce *ClaimError
	if !errors.As(err, &ce) || len(ce.Reasons) != 1 || len(ce.Reasons[spec.Performance]) == 0 {
		t.Fatalf("claim performance: %v", err)
	}
	for _, s := range []string{"level performance", "rule 1: the verdict of level performance is fail", "rule 2: MUST requirement LAT-SERVER is not covered"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q lacks %q", err, s)
		}
	}
}

func TestClaimLevels(t *testing.T) {
	rep := &conformance.Report{RequestedLevels: []spec.Level{spec.Core, spec.Safety}, Claim: []conformance.LevelClaim{
		{Level: spec.Core, Claimable: true, Reasons: []string{}},
		{Level: spec.Safety, Claimable: false, Reasons: []string{"rule 1: no", "rule 3: neither"}},
	}}
	none := &conformance.Report{RequestedLevels: []spec.Level{spec.Safety}, Claim: rep.Claim[1:]}
	tests := []struct {
		name   string
		rep    *conformance.Report
		levels []spec.Level
		want   []spec.Level
		errs   []string
	}{
		{"default", rep, nil, []spec.Level{spec.Core}, nil},
		{"given", rep, []spec.Level{spec.Core, spec.Core}, []spec.Level{spec.Core}, nil},
		{"not claimable", rep, []spec.Level{spec.Safety, spec.Core}, nil, []string{"level safety: rule 1: no; rule 3: neither"}},
		{"not requested", rep, []spec.Level{spec.Performance}, nil, []string{"the run did not request level performance (it requested core, safety)"}},
		{"nothing claimable", none, nil, nil, []string{"level safety: rule 1: no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClaimLevels(tt.rep, tt.levels)
			if tt.errs == nil {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("got %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want an error", got)
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q lacks %q", err, s)
				}
			}
		})
	}
}

// editedReport returns the fixture's files with report.json edited and
// parsed again, as a submitter who edits the report by hand would have.
func editedReport(t *testing.T, f fixture, edit func(doc map[string]any)) *attest.ReportFiles {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(f.rf.ReportFile.Data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reports.Parse("report.json", data)
	if err != nil {
		t.Fatalf("the edited report breaks its schema: %v", err)
	}
	rf := *f.rf
	rf.Report, rf.ReportFile = rep, attest.File{Name: ReportFile, Data: data}
	return &rf
}

// checkOf finds the check with the id in a decoded report.
func checkOf(doc map[string]any, id string) map[string]any {
	for _, c := range doc["checks"].([]any) {
		if c := c.(map[string]any); c["id"] == id {
			return c
		}
	}
	panic("no check " + id)
}

// TestVerifyRecomputesTheReport: a report edited by hand and re-signed
// with the right key, its renderings, submission.json and README made
// anew, fails verification, naming the member its checks contradict.
func TestVerifyRecomputesTheReport(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		edit func(doc map[string]any)
		says []string
	}{
		{"verdict", func(d map[string]any) { d["verdict"] = "pass" }, []string{`verdict: report.json has "pass", its checks give "fail"`}},
		{"level verdict", func(d map[string]any) { d["levels"].(map[string]any)["performance"] = "pass" }, []string{`levels.performance: report.json has "pass", its checks give "fail"`}},
		{"check status", func(d map[string]any) { checkOf(d, "fixture/num-golden")["status"] = "skip" }, []string{
			"summary.pass: report.json has 28, its checks give 27", "summary.skip: report.json has 1, its checks give 2",
			`claim.core.claimable: report.json has true, its checks give false`}},
		{"failed check passed", func(d map[string]any) { checkOf(d, "fixture/lat-single-stream")["status"] = "pass" }, []string{
			`levels.performance: report.json has "fail", its checks give "pass"`, "summary.fail: report.json has 1, its checks give 0"}},
		{"summary", func(d map[string]any) { d["summary"].(map[string]any)["error"] = 0 }, []string{"summary.error: report.json has 0, its checks give 1"}},
		{"warnings", func(d map[string]any) { delete(d, "warnings") }, []string{`warnings: report.json has nothing, its checks give ["fixture/lat-cache-audit (LAT-CACHE-AUDIT): error"]`}},
		{"uncovered", func(d map[string]any) { d["uncovered"].(map[string]any)["performance"] = []any{} }, []string{`uncovered.performance: report.json has [], its checks give ["LAT-SERVER","LAT-OFFLINE"]`}},
		{"claim", func(d map[string]any) {
			for _, c := range d["claim"].([]any) {
				if c := c.(map[string]any); c["level"] == "performance" {
					c["claimable"], c["reasons"] = true, []any{}
				}
			}
		}, []string{"claim.performance.claimable: report.json has true, its checks give false", "claim.performance.reasons: report.json has [], its checks give [\"rule 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rf := editedReport(t, f, tt.edit)
			b, err := assemble(rf, reportfixture.ClaimableLevels, f.key)
			if err != nil {
				t.Fatal(err)
			}
			v := Verify(b, f.key.Public())
			want := map[string][]string{CheckVerdicts: tt.says}
			if strings.Contains(strings.Join(tt.says, ""), "claim.core.claimable") {
				want[CheckClaim] = []string{"claimed level core is not supported by the report's checks: rule 2: MUST requirement NUM-GOLDEN is cited only by checks that did not pass (fixture/num-golden skip)"}
			}
			wantProblems(t, v, want)
		})
	}
}

func TestVerifyRefusesUnsupportedClaims(t *testing.T) {
	f := newFixture(t)
	b, err := assemble(f.rf, []spec.Level{spec.Core, spec.Performance}, f.key)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, Verify(b, f.key.Public()), map[string][]string{CheckClaim: {
		"claimed level performance is not supported by the report's checks: rule 1: the verdict of level performance is fail",
		"rule 2: MUST requirement LAT-SERVER is not covered by any check of the run"}})
}

// TestVerifyRefusesForeignGoldens: a run against goldens other than the
// published ones backs no claim, however consistent its bundle.
func TestVerifyRefusesForeignGoldens(t *testing.T) {
	published, err := os.ReadFile(filepath.Join("..", "testdata", "goldens", spec.Version, golden.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	// The published manifest, re-indented: valid, the same goldens, not
	// the published bytes.
	var m any
	if err := json.Unmarshal(published, &m); err != nil {
		t.Fatal(err)
	}
	foreign, _ := json.MarshalIndent(m, "", "\t")
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	dir := filepath.Join(fx.Dir, "goldens")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, golden.ManifestFile), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	fx.Rep.Goldens = conformance.DocumentRef{Source: dir, SHA256: golden.Digest(foreign)}
	if _, err := reports.WriteJSON(fx.Dir, fx.Rep); err != nil {
		t.Fatal(err)
	}
	f := fixtureOf(t, fx, attest.Sources{})
	b := f.build(t)
	wantProblems(t, Verify(b, f.key.Public()), map[string][]string{CheckGoldens: {
		"manifest.json has sha256 " + golden.Digest(foreign), "the published golden manifest of spec v1", spec.PublishedGoldenManifest().SHA256,
		"the run did not compare against the published goldens"}})
}

// TestVerifyNamesTamperedFiles: a byte changed in any file after signing
// fails the subjects check naming that file.
func TestVerifyNamesTamperedFiles(t *testing.T) {
	f := newFixture(t)
	b := f.build(t)
	for _, name := range b.Names() {
		if name == AttestationFile {
			continue
		}
		t.Run(name, func(t *testing.T) {
			files := map[string][]byte{}
			for _, n := range b.Names() {
				d, _ := b.File(n)
				files[n] = bytes.Clone(d)
			}
			files[name][len(files[name])/2] ^= 0x01
			v := Verify(&Bundle{files: files}, f.key.Public())
			c := v.Check(CheckSubjects)
			if len(c.Problems) != 1 || !strings.HasPrefix(c.Problems[0], name+": MISMATCH") {
				t.Errorf("subjects: %q, want %s alone", c.Problems, name)
			}
		})
	}
}

func TestVerifyBundleProblems(t *testing.T) {
	f := newFixture(t)
	b := f.build(t)
	other, err := attest.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(files map[string][]byte)) *Bundle {
		files := map[string][]byte{}
		for _, n := range b.Names() {
			d, _ := b.File(n)
			files[n] = bytes.Clone(d)
		}
		edit(files)
		return &Bundle{files: files}
	}
	tests := []struct {
		name string
		b    *Bundle
		pub  *attest.PublicKey
		want map[string][]string
	}{
		{"wrong key", b, other.Public(), map[string][]string{
			CheckSignature: {"no signature verifies with the public key " + other.Public().KeyID()},
			CheckSubjects:  {"not checked: the attestation did not verify"}, CheckPredicate: {"not checked"}}},
		{"no attestation", with(func(m map[string][]byte) { delete(m, AttestationFile) }), f.key.Public(), map[string][]string{
			CheckSignature: {"the bundle has no attestation.json"}, CheckSubjects: {"not checked"}, CheckPredicate: {"not checked"},
			CheckFiles: {"the bundle has no attestation.json"}}},
		{"extra file", with(func(m map[string][]byte) { m["notes.txt"] = []byte("hi") }), f.key.Public(), map[string][]string{
			CheckSubjects: {"notes.txt is in the bundle but not a subject of the attestation"},
			CheckFiles:    {"notes.txt is in the bundle but not listed in submission.json"}}},
		{"missing junit", with(func(m map[string][]byte) { delete(m, JUnitFile) }), f.key.Public(), map[string][]string{
			CheckSubjects: {"junit.xml: not found"}, CheckFiles: {"submission.json lists junit.xml (junit), which the bundle lacks"},
			CheckJUnit: {"the bundle has no junit.xml"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, Verify(tt.b, tt.pub), tt.want)
		})
	}
}
