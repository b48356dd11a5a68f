package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/reportfixture"
	"github.com/aiconform/aiconform/spec"
)

// goldensFS is the published golden set, as the tool embeds it.
var goldensFS = os.DirFS(filepath.Join("..", "testdata", "goldens", spec.Version))

// signed is a fixture report, its files and their attestation.
type signed struct {
	fx       *reportfixture.Fixture
	rf       *ReportFiles
	key      *PrivateKey
	envelope []byte
}

func signFixture(t *testing.T) signed {
	t.Helper()
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	rf, err := ReadReportFiles(fx.Report, Sources{BuiltinGoldens: goldensFS})
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStatement(rf.Report, rf.Subjects())
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t)
	env, err := Sign(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return signed{fx: fx, rf: rf, key: key, envelope: env}
}

// files maps every subject's name to its bytes.
func (s signed) files() map[string][]byte {
	m := map[string][]byte{}
	for _, f := range s.rf.Subjects() {
		m[f.Name] = bytes.Clone(f.Data)
	}
	return m
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := signFixture(t)
	st, err := Verify("attestation.json", s.envelope, s.key.Public(), s.files())
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"report.json", GoldenManifestName, reportfixture.ProfileFile, reportfixture.ModelCardFile}
	if len(st.Subject) != len(wantNames) {
		t.Fatalf("subjects %+v, want %v", st.Subject, wantNames)
	}
	for i, sub := range st.Subject {
		if sub.Name != wantNames[i] || sub.SHA256() != golden.Digest(s.files()[sub.Name]) {
			t.Errorf("subject %d: %+v, want %s with its sha256", i, sub, wantNames[i])
		}
	}
	if got := st.Subject[1].SHA256(); got != spec.PublishedGoldenManifest().SHA256 {
		t.Errorf("golden manifest subject %s, want the published %s", got, spec.PublishedGoldenManifest().SHA256)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		t.Errorf("types %q %q", st.Type, st.PredicateType)
	}
	if d := st.Predicate.Diff(PredicateOf(s.fx.Rep)); len(d) > 0 {
		t.Errorf("predicate differs from the report's: %v", d)
	}
	p := st.Predicate
	if p.SpecVersion != spec.Version || p.Tool.Version != "1.2.3" || p.Target != s.fx.Rep.Target || p.Verdict != spec.VerdictFail ||
		p.Levels[spec.Core] != spec.VerdictPass || p.Levels[spec.Performance] != spec.VerdictFail ||
		p.ProfileSHA256 != s.fx.Rep.Profile.SHA256 || p.GoldensSHA256 != s.fx.Rep.Goldens.SHA256 {
		t.Errorf("predicate %+v", p)
	}
	// The envelope is a DSSE envelope of an in-toto statement, signed
	// with the key's id.
	var env dsse.Envelope
	if err := json.Unmarshal(s.envelope, &env); err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != PayloadType || len(env.Signatures) != 1 || env.Signatures[0].KeyID != s.key.Public().KeyID() {
		t.Errorf("envelope %s", s.envelope)
	}
	payload, _ := env.DecodeB64Payload()
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil || raw["_type"] != StatementType {
		t.Errorf("payload %s (%v)", payload, err)
	}
}

// TestVerifyNamesEveryChangedSubject: one changed byte anywhere in any
// subject fails verification, naming that subject alone.
func TestVerifyNamesEveryChangedSubject(t *testing.T) {
	s := signFixture(t)
	for _, f := range s.rf.Subjects() {
		for _, at := range []int{0, len(f.Data) / 2, len(f.Data) - 1} {
			files := s.files()
			files[f.Name][at] ^= 0x01
			_, err := Verify("attestation.json", s.envelope, s.key.Public(), files)
			var se *SubjectError
			if !errors.As(err, &se) || !errors.Is(err, ErrMismatch) {
				t.Fatalf("%s byte %d changed: error %v, want a SubjectError", f.Name, at, err)
			}
			if len(se.Failed) != 1 || se.Failed[0].Name != f.Name || !se.Failed[0].Found() {
				t.Errorf("%s byte %d changed: failed %+v, want %s alone", f.Name, at, se.Failed, f.Name)
			}
			if msg := err.Error(); !strings.Contains(msg, f.Name+": MISMATCH") || !strings.Contains(msg, golden.Digest(f.Data)) || !strings.Contains(msg, golden.Digest(files[f.Name])) {
				t.Errorf("message %q lacks the file or either digest", msg)
			}
		}
	}
}

func TestVerifyNamesEveryMissingSubject(t *testing.T) {
	s := signFixture(t)
	files := s.files()
	delete(files, GoldenManifestName)
	delete(files, reportfixture.ProfileFile)
	_, err := Verify("attestation.json", s.envelope, s.key.Public(), files)
	var se *SubjectError
	if !errors.As(err, &se) || len(se.Failed) != 2 {
		t.Fatalf("error %v, want both missing subjects", err)
	}
	for _, name := range []string{GoldenManifestName, reportfixture.ProfileFile} {
		if !strings.Contains(err.Error(), name+": not found") {
			t.Errorf("%q does not name %s as not found", err, name)
		}
	}
}

// tamper changes the decoded envelope and encodes it again.
func tamper(t *testing.T, envelope []byte, f func(e *dsse.Envelope)) []byte {
	t.Helper()
	var e dsse.Envelope
	if err := json.Unmarshal(envelope, &e); err != nil {
		t.Fatal(err)
	}
	f(&e)
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyRefusesBadSignatures(t *testing.T) {
	s := signFixture(t)
	other := mustKey(t)
	flipSig := func(e *dsse.Envelope) {
		sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
		sig[10] ^= 0x80
		e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	}
	editPayload := func(e *dsse.Envelope) {
		p, _ := e.DecodeB64Payload()
		p = bytes.Replace(p, []byte(`"verdict":"fail"`), []byte(`"verdict":"pass"`), 1)
		e.Payload = base64.StdEncoding.EncodeToString(p)
	}
	otherSig, err := Sign(&Statement{Type: StatementType, PredicateType: PredicateType, Subject: []Subject{{Name: "report.json", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}}, other)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		envelope []byte
		pub      *PublicKey
		want     error
		says     string
	}{
		{"wrong public key", s.envelope, other.Public(), ErrSignature, "no signature verifies with the public key " + other.Public().KeyID() + " (signed by key " + s.key.Public().KeyID() + ")"},
		{"signed by another key", otherSig, s.key.Public(), ErrSignature, "signed by key " + other.Public().KeyID()},
		{"flipped signature bit", tamper(t, s.envelope, flipSig), s.key.Public(), ErrSignature, "no signature verifies"},
		{"edited statement", tamper(t, s.envelope, editPayload), s.key.Public(), ErrSignature, "no signature verifies"},
		{"other payload type", tamper(t, s.envelope, func(e *dsse.Envelope) { e.PayloadType = "application/json" }), s.key.Public(), ErrSignature, "no signature verifies"},
		{"key id removed", tamper(t, s.envelope, func(e *dsse.Envelope) { e.Signatures[0].KeyID = "" }), s.key.Public(), nil, ""},
		{"key id changed", tamper(t, s.envelope, func(e *dsse.Envelope) { e.Signatures[0].KeyID = other.Public().KeyID() }), s.key.Public(), ErrSignature, "signed by key " + other.Public().KeyID()},
		{"no signature", tamper(t, s.envelope, func(e *dsse.Envelope) { e.Signatures = nil }), s.key.Public(), ErrSignature, "the envelope has no signature"},
		{"not JSON", []byte("{"), s.key.Public(), ErrMalformed, "not a DSSE envelope"},
		{"not an envelope", []byte(`{"kind":"report"}`), s.key.Public(), ErrMalformed, "not a DSSE envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify("att.json", tt.envelope, tt.pub, s.files())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "att.json") {
				t.Fatalf("error %v, want %v naming the file and saying %q", err, tt.want, tt.says)
			}
		})
	}
}

// TestOpenRefusesOtherStatements: a validly signed payload that is not
// an aiconform report statement is refused.
func TestOpenRefusesOtherStatements(t *testing.T) {
	key := mustKey(t)
	sub := []Subject{{Name: "report.json", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}}}
	tests := []struct {
		name string
		st   Statement
		says string
	}{
		{"statement v0.1", Statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: PredicateType, Subject: sub}, `_type "https://in-toto.io/Statement/v0.1"`},
		{"SLSA predicate", Statement{Type: StatementType, PredicateType: "https://slsa.dev/provenance/v1", Subject: sub}, `predicateType "https://slsa.dev/provenance/v1"`},
		{"no subject", Statement{Type: StatementType, PredicateType: PredicateType}, "no subject"},
		{"sha512 only", Statement{Type: StatementType, PredicateType: PredicateType, Subject: []Subject{{Name: "r", Digest: map[string]string{"sha512": "ab"}}}}, "subject r: no lowercase hex sha256"},
		{"repeated name", Statement{Type: StatementType, PredicateType: PredicateType, Subject: append(sub, sub[0])}, `name "report.json" is empty or repeated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Sign(&tt.st, key)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open("att.json", env, key.Public())
			if !errors.Is(err, ErrStatement) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want ErrStatement saying %q", err, tt.says)
			}
		})
	}
}

func TestNewStatementRefusesAmbiguousSubjects(t *testing.T) {
	rep := &conformance.Report{}
	for _, files := range [][]File{nil, {{Name: ""}}, {{Name: "a"}, {Name: "a"}}} {
		if _, err := NewStatement(rep, files); err == nil {
			t.Errorf("NewStatement(%v) accepted", files)
		}
	}
}

func TestPredicateDiff(t *testing.T) {
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	p := PredicateOf(fx.Rep)
	if d := p.Diff(PredicateOf(fx.Rep)); len(d) != 0 {
		t.Errorf("a predicate differs from itself: %v", d)
	}
	tests := []struct {
		name string
		edit func(p *Predicate)
		want string
	}{
		{"verdict", func(p *Predicate) { p.Verdict = spec.VerdictPass }, `verdict: attested "pass", the report has "fail"`},
		{"level", func(p *Predicate) { p.Levels[spec.Performance] = spec.VerdictPass }, `levels.performance: attested "pass", the report has "fail"`},
		{"level missing", func(p *Predicate) { delete(p.Levels, spec.Safety) }, `levels.safety: attested "", the report has "pass"`},
		{"target", func(p *Predicate) { p.Target = "http://x" }, `target: attested "http://x"`},
		{"tool", func(p *Predicate) { p.Tool.Version = "9" }, `tool.version: attested "9", the report has "1.2.3"`},
		{"profile", func(p *Predicate) { p.ProfileSHA256 = "x" }, "profileSha256"},
		{"goldens", func(p *Predicate) { p.GoldensSHA256 = "x" }, "goldensSha256"},
		{"spec", func(p *Predicate) { p.SpecVersion = "v2" }, "specVersion"},
	}
	for _, tt := range tests {
		q := PredicateOf(fx.Rep)
		tt.edit(&q)
		d := q.Diff(p)
		if len(d) != 1 || !strings.Contains(d[0], tt.want) {
			t.Errorf("%s: diff %v, want one entry with %q", tt.name, d, tt.want)
		}
	}
}
