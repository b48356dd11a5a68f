package attest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reports"
)

// GoldenManifestName is the subject name of the golden manifest.
const GoldenManifestName = golden.ManifestFile

// Sources says where the documents a report names are when the report's
// own record of them is not the place to look. Every field is optional.
type Sources struct {
	// Profile is the profile file; "" reads the report's profile.source,
	// or the built-in profile when that is "builtin".
	Profile string
	// ModelCard is the model card file; "" reads the report's
	// modelCard.source, or the built-in card when it is "builtin:NAME".
	ModelCard string
	// GoldensDir is the golden directory whose manifest.json the run read;
	// "" reads the report's goldens.source.
	GoldensDir string
	// BuiltinGoldens is the golden set built into the tool, rooted at its
	// manifest.json: read when the report's goldens are "builtin".
	BuiltinGoldens fs.FS
}

// ReportFiles are a report and the documents its run read, each checked
// against the sha256 the report records for it.
type ReportFiles struct {
	// Report is the report as parsed from ReportFile.
	Report     *conformance.Report
	ReportFile File
	// Goldens is the golden manifest, named GoldenManifestName.
	Goldens File
	Profile File
	// ModelCard is nil when the report names no model card.
	ModelCard *File
}

// Subjects are the files in the order an attestation lists them: the
// report, the golden manifest, the profile and the model card.
func (f *ReportFiles) Subjects() []File {
	out := []File{f.ReportFile, f.Goldens, f.Profile}
	if f.ModelCard != nil {
		out = append(out, *f.ModelCard)
	}
	return out
}

// ReadReportFiles reads the report.json at path (which must validate
// against the report schema) and the documents it names: the golden
// manifest (the built-in one when the report's goldens are "builtin"), the
// profile and the model card. Each document's sha256 must equal the one
// the report records, else the error (wrapping ErrMismatch) names the file
// and both digests. Subjects are named by their files' base names.
func ReadReportFiles(path string, src Sources) (*ReportFiles, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	rep, err := reports.Parse(path, data)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	out := &ReportFiles{Report: rep, ReportFile: File{Name: filepath.Base(path), Data: data}}

	if rep.Goldens.SHA256 == "" {
		return nil, fmt.Errorf("attest: %s records no golden manifest (goldens.sha256), so no attestation can name the goldens its run used", path)
	}
	manifest, where, err := readGoldenManifest(rep, src)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(where, manifest, "goldens.sha256", rep.Goldens.SHA256, path); err != nil {
		return nil, err
	}
	out.Goldens = File{Name: GoldenManifestName, Data: manifest}

	if out.Profile, where, err = readDocument(src.Profile, rep.Profile.Source, "profile"); err != nil {
		return nil, err
	}
	if err := checkDigest(where, out.Profile.Data, "profile.sha256", rep.Profile.SHA256, path); err != nil {
		return nil, err
	}

	switch {
	case rep.ModelCard == nil && src.ModelCard != "":
		return nil, fmt.Errorf("attest: %s names no model card, yet %s was given as one", path, src.ModelCard)
	case rep.ModelCard != nil:
		card, where, err := readDocument(src.ModelCard, rep.ModelCard.Source, "model card")
		if err != nil {
			return nil, err
		}
		if err := checkDigest(where, card.Data, "modelCard.sha256", rep.ModelCard.SHA256, path); err != nil {
			return nil, err
		}
		out.ModelCard = &card
	}
	type role struct {
		what string
		file File
	}
	roles := []role{{"report", out.ReportFile}, {"golden manifest", out.Goldens}, {"profile", out.Profile}}
	if out.ModelCard != nil {
		roles = append(roles, role{"model card", *out.ModelCard})
	}
	seen := map[string]string{}
	for _, r := range roles {
		if prev, ok := seen[r.file.Name]; ok {
			return nil, fmt.Errorf("attest: the %s and the %s are both named %s; subjects are told apart by name, so rename one", prev, r.what, r.file.Name)
		}
		seen[r.file.Name] = r.what
	}
	return out, nil
}

// readGoldenManifest reads the manifest the report's run compared against
// and says where it came from.
func readGoldenManifest(rep *conformance.Report, src Sources) ([]byte, string, error) {
	if src.GoldensDir == "" && rep.Goldens.Source == conformance.BuiltinGoldens {
		if src.BuiltinGoldens == nil {
			return nil, "", errors.New("attest: the report's goldens are the built-in ones, and none were provided")
		}
		b, err := fs.ReadFile(src.BuiltinGoldens, golden.ManifestFile)
		if err != nil {
			return nil, "", fmt.Errorf("attest: the built-in golden manifest: %w", err)
		}
		return b, "the built-in golden manifest", nil
	}
	dir := src.GoldensDir
	if dir == "" {
		dir = rep.Goldens.Source
	}
	p := filepath.Join(dir, golden.ManifestFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("attest: the golden manifest: %w", err)
	}
	return b, p, nil
}

// readDocument reads a document the report names: the file given, else
// the built-in document the report's source names, else the report's
// source as a file. It returns the document and says where it came from.
func readDocument(given, source, what string) (File, string, error) {
	if given == "" {
		if name, b, ok := conformance.BuiltinDocument(source); ok {
			return File{Name: name, Data: b}, "the built-in " + what + " " + name, nil
		}
		given = source
	}
	b, err := os.ReadFile(given)
	if err != nil {
		return File{}, "", fmt.Errorf("attest: the %s: %w", what, err)
	}
	return File{Name: filepath.Base(given), Data: b}, given, nil
}

// checkDigest refuses a document whose sha256 is not the one the report
// at reportPath records in member.
func checkDigest(where string, data []byte, member, want, reportPath string) error {
	if got := golden.Digest(data); got != want {
		return fmt.Errorf("attest: %w: %s has sha256 %s, but %s records %s as %s: it is not the document the run read", ErrMismatch, where, got, reportPath, want, member)
	}
	return nil
}
