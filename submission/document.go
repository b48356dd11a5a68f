// Package submission builds and verifies submission bundles: the files
// that back a claim of conformance, as a Kubernetes conformance submission
// does. A bundle is a flat directory, or a .tar.gz of one, holding the
// report (report.json), its JUnit and HTML renderings, the profile, the
// model card, the golden manifest, submission.json (the claimed levels and
// the files), a README.md stating the claim, and attestation.json: a
// signed in-toto attestation of every other file (package attest). Verify
// re-checks all of it as a reviewer would (spec/v1/report.md, "Submission").
package submission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aiconform/aiconform/attest"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// Kind is the submission document's kind, as schemas/submission names it.
const Kind = "submission"

// SchemaVersion is the version of the submission schema this package
// writes and reads.
const SchemaVersion = "v1"

// The names of the files of a bundle beside those of the report and its
// renderings (reports.Format.FileName) and the golden manifest
// (attest.GoldenManifestName).
const (
	// DocumentFile is submission.json.
	DocumentFile = "submission.json"
	// ReadmeFile states the claim for a person.
	ReadmeFile = "README.md"
	// AttestationFile attests every other file.
	AttestationFile = attest.FileName
	// profileFileBase and modelCardFileBase name the profile and model
	// card, with the extension of their source.
	profileFileBase   = "profile"
	modelCardFileBase = "modelcard"
)

// The names of the report, its renderings and the golden manifest in a
// bundle.
var (
	ReportFile         = reports.FormatJSON.FileName()
	JUnitFile          = reports.FormatJUnit.FileName()
	HTMLFile           = reports.FormatHTML.FileName()
	GoldenManifestFile = attest.GoldenManifestName
)

// unlistedBundleFiles are the files of a bundle that submission.json does
// not list: itself, the README (which lists it) and the attestation
// (signed over all others).
var unlistedBundleFiles = []string{DocumentFile, ReadmeFile, AttestationFile}

// Role says what a file of a bundle is.
type Role string

// The roles of the files submission.json lists.
const (
	RoleReport         Role = "report"
	RoleJUnit          Role = "junit"
	RoleHTML           Role = "html"
	RoleProfile        Role = "profile"
	RoleModelCard      Role = "modelcard"
	RoleGoldenManifest Role = "golden-manifest"
)

// Document is submission.json: the claimed levels and the files that
// back the claim. Its JSON form validates against
// schemas/submission/v1.schema.json.
type Document struct {
	Kind          string       `json:"kind"`
	SpecVersion   string       `json:"specVersion"`
	ClaimedLevels []spec.Level `json:"claimedLevels"`
	Files         []FileRef    `json:"files"`
}

// FileRef is a file of the bundle by name, role and sha256.
type FileRef struct {
	Path   string `json:"path"`
	Role   Role   `json:"role"`
	SHA256 string `json:"sha256"`
}

// File returns the name of the file of role r that d lists, "" if none.
func (d *Document) File(r Role) string {
	for _, f := range d.Files {
		if f.Role == r {
			return f.Path
		}
	}
	return ""
}

// encode returns d as indented JSON with a trailing newline.
func (d *Document) encode() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("submission: encoding %s: %w", DocumentFile, err)
	}
	return append(b, '\n'), nil
}

// ParseDocument decodes and validates submission.json; name is the file
// in errors, which give every schema violation with its JSON pointer.
func ParseDocument(name string, data []byte) (*Document, error) {
	if err := validate(name, data, Kind); err != nil {
		return nil, err
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &d, nil
}

// validate decodes a JSON or YAML document (by name) and validates it
// against the latest schema of kind: nil, or an error with one
// "NAME: /pointer: message" line per violation.
func validate(name string, data []byte, kind string) error {
	doc, err := schemas.DecodeDocument(name, data)
	if err != nil {
		return err
	}
	vs, err := schemas.Validate(kind, "", doc)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(vs) == 0 {
		return nil
	}
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = name + ": " + v.String()
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

// bundleName names a profile or model card in the bundle: base plus the
// extension of its source, which decides how it is decoded; def when the
// source's is neither JSON nor YAML (a profile without one is read as
// YAML, a model card as JSON).
func bundleName(base, source, def string) string {
	switch ext := strings.ToLower(filepath.Ext(source)); ext {
	case ".json", ".yaml", ".yml":
		return base + ext
	}
	return base + def
}
