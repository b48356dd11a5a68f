package attest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/reportfixture"
	"github.com/aiconform/aiconform/reports"
)

func TestReadReportFilesFindsEveryDocument(t *testing.T) {
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	rf, err := ReadReportFiles(fx.Report, Sources{BuiltinGoldens: goldensFS})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    File
		name string
		path string
	}{
		{rf.ReportFile, "report.json", fx.Report},
		{rf.Profile, reportfixture.ProfileFile, fx.Profile},
		{*rf.ModelCard, reportfixture.ModelCardFile, fx.ModelCard},
	} {
		want, _ := os.ReadFile(c.path)
		if c.f.Name != c.name || string(c.f.Data) != string(want) {
			t.Errorf("%s: got %s (%d bytes)", c.name, c.f.Name, len(c.f.Data))
		}
	}
	if rf.Goldens.Name != GoldenManifestName || golden.Digest(rf.Goldens.Data) != fx.Rep.Goldens.SHA256 {
		t.Errorf("golden manifest %s %s", rf.Goldens.Name, golden.Digest(rf.Goldens.Data))
	}
}

// TestReadReportFilesBuiltinProfile: a report of the built-in profile
// names the built-in profile and card, which are read from the tool.
func TestReadReportFilesBuiltinProfile(t *testing.T) {
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	rep := fx.Rep
	name, profile, _ := conformance.BuiltinDocument(conformance.BuiltinSource)
	cardSource := conformance.BuiltinSource + ":reference.modelcard.yaml"
	cardName, card, _ := conformance.BuiltinDocument(cardSource)
	rep.Profile = conformance.ProfileRef{Name: "reference", Source: conformance.BuiltinSource, SHA256: golden.Digest(profile)}
	rep.ModelCard = &conformance.DocumentRef{Source: cardSource, SHA256: golden.Digest(card)}
	dir := t.TempDir()
	path, err := reports.WriteJSON(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := ReadReportFiles(path, Sources{BuiltinGoldens: goldensFS})
	if err != nil {
		t.Fatal(err)
	}
	if rf.Profile.Name != name || string(rf.Profile.Data) != string(profile) || rf.ModelCard.Name != cardName || string(rf.ModelCard.Data) != string(card) {
		t.Errorf("profile %s, card %s", rf.Profile.Name, rf.ModelCard.Name)
	}
}

// TestReadReportFilesRefusesOtherDocuments: a document whose sha256 is
// not the one the report records is refused, naming the file and both
// digests.
func TestReadReportFilesRefusesOtherDocuments(t *testing.T) {
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("kind: profile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherDigest := golden.Digest([]byte("kind: profile\n"))
	goldensDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(goldensDir, golden.ManifestFile), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		src    Sources
		member string
		file   string
		got    string
		want   string
	}{
		{"profile", Sources{Profile: other}, "profile.sha256", other, otherDigest, fx.Rep.Profile.SHA256},
		{"model card", Sources{ModelCard: other}, "modelCard.sha256", other, otherDigest, fx.Rep.ModelCard.SHA256},
		{"goldens", Sources{GoldensDir: goldensDir}, "goldens.sha256", filepath.Join(goldensDir, golden.ManifestFile), golden.Digest([]byte("{}")), fx.Rep.Goldens.SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.BuiltinGoldens = goldensFS
			_, err := ReadReportFiles(fx.Report, tt.src)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("error %v, want ErrMismatch", err)
			}
			for _, s := range []string{tt.member, tt.file, tt.got, tt.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q lacks %q", err, s)
				}
			}
		})
	}
}

func TestReadReportFilesErrors(t *testing.T) {
	fx := reportfixture.Write(t, t.TempDir(), goldensFS)
	// A report of a build before reports recorded their goldens.
	var doc map[string]any
	b, _ := os.ReadFile(fx.Report)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "goldens")
	b, _ = json.Marshal(doc)
	noGoldens := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(noGoldens, b, 0o644); err != nil {
		t.Fatal(err)
	}
	noCard := *fx.Rep
	noCard.ModelCard = nil
	sameName := *fx.Rep
	sameName.Profile.Source = filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(sameName.Profile.Source, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	sameName.Profile.SHA256 = golden.Digest(nil)
	write := func(rep *conformance.Report) string {
		p, err := reports.WriteJSON(t.TempDir(), rep)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		src  Sources
		says string
	}{
		{"no report", filepath.Join(t.TempDir(), "report.json"), Sources{BuiltinGoldens: goldensFS}, "no such file"},
		{"no builtin goldens", fx.Report, Sources{}, "the report's goldens are the built-in ones, and none were provided"},
		{"no goldens recorded", noGoldens, Sources{BuiltinGoldens: goldensFS}, "records no golden manifest"},
		{"card given, none named", write(&noCard), Sources{BuiltinGoldens: goldensFS, ModelCard: fx.ModelCard}, "names no model card, yet " + fx.ModelCard},
		{"missing profile", fx.Report, Sources{BuiltinGoldens: goldensFS, Profile: "/nonexistent/p.yaml"}, "the profile: open /nonexistent/p.yaml"},
		{"two subjects one name", write(&sameName), Sources{BuiltinGoldens: goldensFS}, "the report and the profile are both named report.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadReportFiles(tt.path, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want one saying %q", err, tt.says)
			}
		})
	}
}
