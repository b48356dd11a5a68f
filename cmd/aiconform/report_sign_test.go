package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/reportfixture"
)

// signedFixture writes a fixture report, signs it with the CLI and
// returns the fixture, the key files and the attestation.
func signedFixture(t *testing.T) (fx *reportfixture.Fixture, key, pub, att string) {
	t.Helper()
	key, pub = keygenFiles(t)
	fx = reportfixture.Write(t, t.TempDir(), aiconform.Goldens())
	code, stdout, stderr := runCLI(t, "report", "sign", "--key", key, fx.Report)
	if code != ExitOK {
		t.Fatalf("report sign: exit %d\n%s%s", code, stdout, stderr)
	}
	att = filepath.Join(fx.Dir, attest.FileName)
	if !strings.HasPrefix(stdout, "attestation: "+att+" (signed by key ") {
		t.Errorf("stdout:\n%s", stdout)
	}
	assertNoPrivateKey(t, key, stdout, stderr)
	return fx, key, pub, att
}

func TestReportSignVerifyRoundTrip(t *testing.T) {
	fx, key, pub, att := signedFixture(t)
	code, stdout, stderr := runCLI(t, "report", "verify", "--pub", pub, att)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	p, _ := attest.ReadPublicKey(pub)
	for _, want := range []string{
		"signature: ok (key " + p.KeyID() + ")",
		"report.json: ok (sha256 " + golden.Digest(mustRead(t, fx.Report)) + ") — " + fx.Report,
		"manifest.json: ok (sha256 " + fx.Rep.Goldens.SHA256 + ") — the golden manifest built into aiconform",
		"acme.yaml: ok (sha256 " + fx.Rep.Profile.SHA256 + ") — " + fx.Profile,
		"acme.modelcard.yaml: ok (sha256 " + fx.Rep.ModelCard.SHA256 + ") — " + fx.ModelCard,
		"verified: the signature and all 4 subjects",
	} {
		if !strings.Contains(stdout, want+"\n") {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	assertNoPrivateKey(t, key, stdout, stderr)

	// --out, and files given by argument rather than beside it.
	elsewhere := filepath.Join(t.TempDir(), "att.json")
	if code, stdout, stderr := runCLI(t, "report", "sign", "--key", key, "--out", elsewhere, fx.Report); code != ExitOK {
		t.Fatalf("sign --out: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "report", "verify", "--pub", pub, elsewhere, fx.Report, fx.Profile, fx.ModelCard, filepath.Join(t.TempDir(), "unrelated.txt"))
	if code != ExitUsage {
		t.Errorf("an unreadable FILE: exit %d, want 2\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "report", "verify", "--pub", pub, elsewhere, fx.Report, fx.Profile, fx.ModelCard, att)
	if code != ExitOK || !strings.Contains(stdout, "acme.yaml: ok") || !strings.Contains(stdout, "note: "+att+" is not a subject of the attestation") {
		t.Errorf("files by argument: exit %d\n%s%s", code, stdout, stderr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportVerifyNamesEveryChangedSubject: a byte changed in any subject
// fails verification, naming it with both digests; the others still pass.
func TestReportVerifyNamesEveryChangedSubject(t *testing.T) {
	fx, _, pub, att := signedFixture(t)
	manifest := filepath.Join(t.TempDir(), golden.ManifestFile)
	if err := os.WriteFile(manifest, mustRead(t, filepath.Join("..", "..", "testdata", "goldens", "v1", golden.ManifestFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{fx.Report, fx.Profile, fx.ModelCard, manifest} {
		name := filepath.Base(subject)
		t.Run(name, func(t *testing.T) {
			orig := mustRead(t, subject)
			changed := append([]byte(nil), orig...)
			changed[len(changed)/2] ^= 0x20
			copy := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(copy, changed, 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t, "report", "verify", "--pub", pub, att, copy)
			if code != ExitFail {
				t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			want := name + ": MISMATCH: sha256 " + golden.Digest(changed) + ", attested " + golden.Digest(orig) + " — " + copy
			if !strings.Contains(stdout, want+"\n") || strings.Count(stdout, "MISMATCH") != 1 || strings.Count(stdout, ": ok (sha256") != 3 {
				t.Errorf("stdout lacks %q alone:\n%s", want, stdout)
			}
			if !strings.Contains(stdout, "NOT verified: 1 of 4 subjects") {
				t.Errorf("stdout:\n%s", stdout)
			}
		})
	}
	// A subject that is nowhere.
	if err := os.Rename(fx.Profile, fx.Profile+".moved"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCLI(t, "report", "verify", "--pub", pub, att)
	if code != ExitFail || !strings.Contains(stdout, "acme.yaml: not found (attested sha256 "+fx.Rep.Profile.SHA256+")") {
		t.Errorf("missing profile: exit %d\n%s", code, stdout)
	}
}

func TestReportVerifyRefusesBadSignatures(t *testing.T) {
	fx, key, pub, att := signedFixture(t)
	_, otherPub := keygenFiles(t)
	env := mustRead(t, att)
	var e dsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	sig[0] ^= 1
	e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	badSig, _ := json.Marshal(e)
	write := func(name string, b []byte) string {
		p := filepath.Join(fx.Dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"wrong public key", []string{"--pub", otherPub, att}, ExitFail, "signature: INVALID: bad signature: " + att + ": no signature verifies with the public key"},
		{"bad signature", []string{"--pub", pub, write("bad-sig.json", badSig)}, ExitFail, "signature: INVALID"},
		{"not an envelope", []string{"--pub", pub, write("junk.json", []byte("{"))}, ExitUsage, "malformed attestation"},
		{"no attestation", []string{"--pub", pub, filepath.Join(fx.Dir, "none.json")}, ExitUsage, "no such file"},
		{"private key as --pub", []string{"--pub", key, att}, ExitUsage, `a "PRIVATE KEY" PEM block, want "PUBLIC KEY"`},
		{"no --pub", []string{att}, ExitUsage, "--pub is required"},
		{"same base name twice", []string{"--pub", pub, att, fx.Report, filepath.Join(t.TempDir(), "report.json")}, ExitUsage, "have the same base name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"report", "verify"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.says) {
				t.Fatalf("exit %d, want %d saying %q\n%s%s", code, tt.code, tt.says, stdout, stderr)
			}
			assertNoPrivateKey(t, key, stdout, stderr)
		})
	}
}

func TestReportSignRefuses(t *testing.T) {
	key, pub := keygenFiles(t)
	fx := reportfixture.Write(t, t.TempDir(), aiconform.Goldens())
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("kind: profile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		says []string
	}{
		{"another profile", []string{"--key", key, "--profile", other, fx.Report}, ExitFail,
			[]string{other + " has sha256 " + golden.Digest([]byte("kind: profile\n")), "records " + fx.Rep.Profile.SHA256 + " as profile.sha256"}},
		{"another model card", []string{"--key", key, "--model-card", other, fx.Report}, ExitFail, []string{"as modelCard.sha256"}},
		{"no key", []string{fx.Report}, ExitUsage, []string{"--key is required"}},
		{"public key as --key", []string{"--key", pub, fx.Report}, ExitUsage, []string{`a "PUBLIC KEY" PEM block, want "PRIVATE KEY"`}},
		{"no report", []string{"--key", key, filepath.Join(fx.Dir, "none.json")}, ExitUsage, []string{"no such file"}},
		{"not a report", []string{"--key", key, fx.Profile}, ExitUsage, []string{fx.Profile + ":"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"report", "sign"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(fx.Dir, attest.FileName)); !os.IsNotExist(err) {
				t.Errorf("an attestation was written (%v)", err)
			}
			assertNoPrivateKey(t, key, stdout, stderr)
		})
	}
}

// TestRunSignKey: run --sign-key signs the report it writes, with the
// golden manifest and profile of the run; a report whose profile changed
// during the run is kept but not signed, and the run exits non-zero.
func TestRunSignKey(t *testing.T) {
	key, pub := keygenFiles(t)
	profile := runSmallProfile(t, 3)
	ts := runReferenceServer(t, nil)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", out, "--profile", profile, "--sign-key", key, "-q", "--format", "json")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	att := filepath.Join(out, attest.FileName)
	if !strings.Contains(stdout, "attestation: "+att) {
		t.Errorf("stdout:\n%s", stdout)
	}
	assertNoPrivateKey(t, key, stdout, stderr)
	manifest := filepath.Join(filepath.Dir(profile), "goldens", golden.ManifestFile)
	code, stdout, stderr = runCLI(t, "report", "verify", "--pub", pub, att, profile, manifest)
	if code != ExitOK || !strings.Contains(stdout, "verified: the signature and all 3 subjects") {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}

	// A bad key is refused before the run.
	code, _, stderr = runCLI(t, "run", "--target", ts.URL, "--out", t.TempDir(), "--profile", profile, "--sign-key", pub, "-q", "--format", "json")
	if code != ExitUsage || !strings.Contains(stderr, "--sign-key") {
		t.Errorf("public key as --sign-key: exit %d\n%s", code, stderr)
	}

	// The profile changes under the run: the report stays, unsigned.
	var once sync.Once
	touch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() {
				f, err := os.OpenFile(profile, os.O_APPEND|os.O_WRONLY, 0)
				if err == nil {
					f.WriteString("# edited during the run\n")
					f.Close()
				}
			})
			next.ServeHTTP(w, r)
		})
	}
	ts2 := runReferenceServer(t, touch)
	out2 := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr = runCLI(t, "run", "--target", ts2.URL, "--out", out2, "--profile", profile, "--sign-key", key, "-q", "--format", "json")
	if code != ExitFail || !strings.Contains(stderr, "was not signed") || !strings.Contains(stderr, profile+" has sha256") {
		t.Errorf("exit %d, want 1 saying the report was not signed\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out2, "report.json")); err != nil {
		t.Errorf("the report is lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, attest.FileName)); !os.IsNotExist(err) {
		t.Errorf("an attestation was written (%v)", err)
	}
}

// TestFindSubjectBuiltin: a subject that is no file given or beside the
// attestation is matched against the documents built into the tool — the
// golden manifest, the built-in profile and its model card — and nothing
// else.
func TestFindSubjectBuiltin(t *testing.T) {
	profileName, profile, _ := conformance.BuiltinDocument(conformance.BuiltinSource)
	cardName, card, ok := conformance.BuiltinDocument(conformance.BuiltinSource + ":reference.modelcard.yaml")
	if !ok {
		t.Fatal("the built-in profile's model card is not built in")
	}
	tests := []struct {
		name  string
		want  []byte
		where string
	}{
		{attest.GoldenManifestName, readBuiltinManifest(t), "the golden manifest built into aiconform"},
		{profileName, profile, "the " + profileName + " built into aiconform"},
		{cardName, card, "the " + cardName + " built into aiconform"},
		{"acme.yaml", nil, ""},
		{"../reference.yaml", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, where, err := findSubject(tt.name, map[string]string{}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if where != tt.where {
				t.Errorf("found in %q, want %q", where, tt.where)
			}
			if tt.want != nil && !bytes.Equal(b, tt.want) {
				t.Errorf("the bytes found are not the built-in document's")
			}
			if tt.where == "" && b != nil {
				t.Errorf("found %d bytes for a document the tool does not have", len(b))
			}
			if tt.where != "" && len(b) == 0 {
				t.Errorf("found no bytes")
			}
		})
	}
}

func readBuiltinManifest(t *testing.T) []byte {
	t.Helper()
	b, err := fs.ReadFile(aiconform.Goldens(), attest.GoldenManifestName)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
