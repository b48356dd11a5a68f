package golden

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// Directory is an opened golden directory: its manifest and every set of
// it with its cases loaded and checked.
type Directory struct {
	Manifest *Manifest
	// Sets are the manifest's sets, in its order.
	Sets []LoadedSet
}

// LoadedSet is a set of a manifest with the contract of its reference
// model and version, its tolerance class resolved and its cases decoded,
// each in the manifest's order and checked against the contract.
type LoadedSet struct {
	Set
	Contract  spec.Contract
	Tolerance numerics.Tolerance
	Loaded    []Loaded
}

// IntegrityError reports a file whose sha256 differs from the one its
// manifest records, or that cannot be read.
type IntegrityError struct {
	// File is the path of the file as Open read it.
	File string
	// Got is the file's digest ("" when it could not be read), Want the
	// manifest's.
	Got, Want string
	// Err is the read error, if any.
	Err error
}

func (e *IntegrityError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: cannot read the file the manifest lists: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: sha256 is %s, the manifest records %s", e.File, e.Got, e.Want)
}

func (e *IntegrityError) Unwrap() error { return e.Err }

// SchemaError reports a manifest that breaks the golden-manifest schema.
type SchemaError struct {
	Violations []schemas.Violation
}

func (e *SchemaError) Error() string {
	msgs := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		msgs[i] = ManifestFile + ": " + v.String()
	}
	return fmt.Sprintf("%s violates the %s schema: %s", ManifestFile, Kind, strings.Join(msgs, "; "))
}

// Open opens the golden directory at the root of goldens: it reads
// manifest.json, checks it against the golden-manifest schema of the spec
// version this build implements, checks the sha256 of every case file and
// of every set's weights file, decodes every case, checks each against the
// contract of its set's reference model and version (spec.ModelContract)
// and resolves each set's tolerance class.
//
// Weights paths are relative to the testdata root (see FileRef), so they
// are looked up in testdata; a weights file that testdata does not hold,
// or a nil testdata, is not checked.
//
// Errors name the file and, where one applies, the JSON pointer into the
// manifest. Files whose digests differ are *IntegrityError values, joined,
// one per file, reported before any case is decoded; schema violations are
// a *SchemaError.
func Open(goldens, testdata fs.FS) (*Directory, error) {
	raw, err := fs.ReadFile(goldens, ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	doc, err := schemas.DecodeDocument(ManifestFile, raw)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	vs, err := schemas.Validate(Kind, spec.Version, doc)
	if err != nil {
		return nil, fmt.Errorf("golden: %s: %w", ManifestFile, err)
	}
	if len(vs) > 0 {
		return nil, &SchemaError{Violations: vs}
	}
	m, err := decodeManifest(ManifestFile, raw)
	if err != nil {
		return nil, err
	}
	files, err := readFiles(m, goldens, testdata)
	if err != nil {
		return nil, err
	}
	d := &Directory{Manifest: m}
	for i, s := range m.Sets {
		ls, err := loadSet(i, s, files)
		if err != nil {
			return nil, err
		}
		d.Sets = append(d.Sets, ls)
	}
	return d, nil
}

// readFiles reads every case file the manifest lists and checks the
// digests of those and of the weights files testdata holds. It returns the
// case files' bytes by path.
func readFiles(m *Manifest, goldens, testdata fs.FS) (map[string][]byte, error) {
	var bad []error
	files := map[string][]byte{}
	weights := map[string]bool{}
	for _, s := range m.Sets {
		if w := s.Weights; testdata != nil && w.Path != "" && !weights[w.Path] {
			weights[w.Path] = true
			if _, err := readVerified(testdata, w.Path, w.SHA256); err != nil && !errors.Is(err, fs.ErrNotExist) {
				bad = append(bad, err)
			}
		}
		for _, c := range s.Cases {
			b, err := readVerified(goldens, c.File, c.SHA256)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			files[c.File] = b
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return files, nil
}

// loadSet resolves set i of a manifest and decodes its cases from files.
func loadSet(i int, s Set, files map[string][]byte) (LoadedSet, error) {
	at := fmt.Sprintf("%s: /sets/%d", ManifestFile, i)
	if !slices.Contains(spec.ReferenceModels(), s.Model) {
		return LoadedSet{}, fmt.Errorf("golden: %s/model: %q is not a reference model of spec %s (want one of %v)", at, s.Model, spec.Version, spec.ReferenceModels())
	}
	v, ok := spec.LookupVersion(s.Version)
	if !ok {
		return LoadedSet{}, fmt.Errorf("golden: %s/version: %q is not a reference version of spec %s (want one of %v)", at, s.Version, spec.Version, spec.ReferenceVersions())
	}
	if s.DType != v.Datatype {
		return LoadedSet{}, fmt.Errorf("golden: %s/dtype: %s, but reference version %s computes in %s", at, s.DType, s.Version, v.Datatype)
	}
	c, err := spec.ModelContract(s.Model, s.Version)
	if err != nil {
		return LoadedSet{}, fmt.Errorf("golden: %s: %w", at, err)
	}
	tol, ok := spec.Tolerance(s.ToleranceClass)
	if !ok {
		return LoadedSet{}, fmt.Errorf("golden: %s/toleranceClass: %q is not a tolerance class of spec %s", at, s.ToleranceClass, spec.Version)
	}
	ls := LoadedSet{Set: s, Contract: c, Tolerance: tol}
	for j, cs := range s.Cases {
		l, err := decodeCase(cs.File, cs, files[cs.File])
		if err != nil {
			return LoadedSet{}, err
		}
		if err := checkCase(c, l); err != nil {
			return LoadedSet{}, fmt.Errorf("golden: %s/cases/%d (%s): %w", at, j, cs.File, err)
		}
		ls.Loaded = append(ls.Loaded, l)
	}
	return ls, nil
}

// checkCase makes sure a golden case fits its model's contract: every
// input the contract requires and no other, and only outputs of the
// contract, each of its datatype and shape. A broken golden set is so
// reported as such and not blamed on whatever is compared with it.
func checkCase(c spec.Contract, l Loaded) error {
	for _, in := range c.Inputs {
		t, ok := l.Inputs[in.Name]
		if !ok {
			if in.Optional {
				continue
			}
			return fmt.Errorf("has no input %q", in.Name)
		}
		if err := in.Fits(t); err != nil {
			return fmt.Errorf("input %q: %w", in.Name, err)
		}
	}
	for _, name := range SortedNames(l.Inputs) {
		if _, ok := c.Input(name); !ok {
			return fmt.Errorf("input %q is not an input of %s", name, c.Model)
		}
	}
	if len(l.Outputs) == 0 {
		return errors.New("has no outputs")
	}
	for _, name := range SortedNames(l.Outputs) {
		out, ok := c.Output(name)
		if !ok {
			return fmt.Errorf("output %q is not an output of %s", name, c.Model)
		}
		if err := out.Fits(l.Outputs[name]); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
	}
	return nil
}
