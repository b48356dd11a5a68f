package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// GeneratorName names aiconform as the generator of golden manifests.
const GeneratorName = "aiconform"

// Library modules the reference models are computed with, at the versions
// go.mod requires (a test keeps these in step with go.mod). Test binaries
// carry no module list, so these are the fallback of LibraryVersions.
const (
	GorgoniaModule  = "gorgonia.org/gorgonia"
	GorgoniaVersion = "v0.9.18"
	TensorModule    = "gorgonia.org/tensor"
	TensorVersion   = "v0.9.24"
)

// DeviceCPU is the device the reference models compute on.
const DeviceCPU = "cpu"

// LibraryVersions returns the versions of Go, gorgonia and gorgonia's
// tensor package in this build, keyed "go", "gorgonia" and "tensor".
func LibraryVersions() map[string]string {
	v := map[string]string{"go": runtime.Version(), "gorgonia": GorgoniaVersion, "tensor": TensorVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			switch d.Path {
			case GorgoniaModule:
				v["gorgonia"] = d.Version
			case TensorModule:
				v["tensor"] = d.Version
			}
		}
	}
	return v
}

// Generator returns the producer record of aiconform at version for a
// golden manifest's generator field.
func Generator(version string) golden.Producer {
	return golden.Producer{Name: GeneratorName, Version: version, Libraries: LibraryVersions()}
}

// framework is the producer record of the reference models' outputs.
func framework() golden.Producer {
	libs := LibraryVersions()
	return golden.Producer{
		Name:      "gorgonia",
		Version:   libs["gorgonia"],
		Libraries: map[string]string{"go": libs["go"], "tensor": libs["tensor"]},
	}
}

// GenerateOptions configures GenerateGoldens.
type GenerateOptions struct {
	// Generator is the manifest's generator record (see Generator).
	Generator golden.Producer
	// Weights maps each model id to the weights file its outputs were
	// computed from (see PublishedWeightsRef); every model needs one.
	Weights map[string]golden.FileRef
}

// SetDir returns the directory of a set inside a golden directory:
// "<model>/<version>".
func SetDir(model, version string) string { return model + "/" + version }

// widen returns t with FP32 elements converted to dtype (exactly, for FP64).
func widen(t numerics.Tensor, dtype numerics.DType) numerics.Tensor {
	if t.DType != numerics.FP32 || dtype == numerics.FP32 {
		return t
	}
	return numerics.NewF64(t.Shape, t.Float64s())
}

// GenerateGoldens computes the golden outputs of every model on its
// published golden inputs (GoldenInputs) and writes a golden directory to
// outDir: manifest.json and <model>/<version>/<case>.safetensors. Every file
// is written deterministically, so the same outputs give the same bytes.
//
// The directory is built next to outDir and moved into place, so a reader
// never sees a half-written set. An existing outDir is replaced only when it
// is empty or holds a manifest.json (an earlier golden set); anything else
// is an error, so that a mistyped --out never deletes unrelated files.
func GenerateGoldens(models []Model, outDir string, opts GenerateOptions) error {
	if len(models) == 0 {
		return errors.New("reference: generate goldens: no models")
	}
	if err := checkReplaceable(outDir); err != nil {
		return err
	}
	files := map[string][]byte{}
	m := golden.Manifest{Kind: golden.Kind, SpecVersion: spec.Version, Generator: opts.Generator}
	for _, model := range models {
		set, err := goldenSet(model, opts, files)
		if err != nil {
			return err
		}
		m.Sets = append(m.Sets, set)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("reference: encoding the golden manifest: %w", err)
	}
	files[golden.ManifestFile] = append(mb, '\n')
	return writeDirAtomic(outDir, files)
}

// goldenSet computes one model's set, adding its case files to files.
func goldenSet(model Model, opts GenerateOptions, files map[string][]byte) (golden.Set, error) {
	id, version := model.ID(), model.Version()
	dtype, err := modelDType(model)
	if err != nil {
		return golden.Set{}, err
	}
	wref, ok := opts.Weights[id]
	if !ok {
		return golden.Set{}, fmt.Errorf("reference: generate goldens: no weights file given for model %q", id)
	}
	inputs, err := GoldenInputs(id)
	if err != nil {
		return golden.Set{}, err
	}
	set := golden.Set{
		Model: id, Version: version, DType: dtype, Device: DeviceCPU,
		Producer: framework(), ToleranceClass: version, Weights: wref,
	}
	if _, ok := spec.Tolerance(set.ToleranceClass); !ok {
		return golden.Set{}, fmt.Errorf("reference: generate goldens: spec %s has no tolerance class %q for %s/%s", spec.Version, set.ToleranceClass, id, version)
	}
	for _, in := range inputs {
		ins := map[string]numerics.Tensor{}
		for n, t := range in.Inputs {
			ins[n] = widen(t, dtype)
		}
		outs, err := model.Forward(ins)
		if err != nil {
			return golden.Set{}, fmt.Errorf("reference: generate goldens: %s/%s %s: %w", id, version, in.Name, err)
		}
		b, err := golden.EncodeCase(ins, outs, map[string]string{
			"model": id, "version": version, "case": in.Name, "specVersion": spec.Version,
		})
		if err != nil {
			return golden.Set{}, fmt.Errorf("reference: generate goldens: %s/%s %s: %w", id, version, in.Name, err)
		}
		file := SetDir(id, version) + "/" + in.Name + ".safetensors"
		files[file] = b
		set.Cases = append(set.Cases, golden.Case{
			Name: in.Name, Description: in.Description, File: file, SHA256: golden.Digest(b),
			Inputs: golden.SortedNames(ins), Outputs: golden.SortedNames(outs),
		})
	}
	return set, nil
}

// modelDType is the floating datatype of a model's version.
func modelDType(m Model) (numerics.DType, error) {
	switch m.Version() {
	case VersionFP32:
		return numerics.FP32, nil
	case VersionFP64:
		return numerics.FP64, nil
	}
	return "", fmt.Errorf("reference: model %s has version %q, want %q or %q", m.ID(), m.Version(), VersionFP32, VersionFP64)
}

// checkReplaceable refuses an outDir that exists and holds files but no
// golden manifest.
func checkReplaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reference: golden directory %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, golden.ManifestFile)); err != nil {
		return fmt.Errorf("reference: %s exists and is not a golden directory (no %s); refusing to replace it", dir, golden.ManifestFile)
	}
	return nil
}

// writeDirAtomic writes files (slash-separated relative paths) into a fresh
// directory beside dir and renames it to dir, replacing an older dir.
func writeDirAtomic(dir string, files map[string][]byte) (err error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	for name, b := range files {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("reference: moving the old %s aside: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return fmt.Errorf("reference: moving the new golden set into %s: %w", dir, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("reference: removing the old golden set %s: %w", old, err)
		}
	}
	return nil
}

// WriteFileAtomic writes b to name through a temporary file in the same
// directory and a rename.
func WriteFileAtomic(name string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("reference: writing %s: %w", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("reference: writing %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	return nil
}

// IntegrityError reports a file whose sha256 differs from the one its
// manifest records (or that is missing).
type IntegrityError struct {
	// File is the path of the file as the verifier opened it.
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

// VerifyOptions configures VerifyGoldens.
type VerifyOptions struct {
	// Testdata, when not nil, is the testdata root (see aiconform.Testdata)
	// against which each set's weights path is resolved; the weights file's
	// digest must match the manifest's. Nil skips the weights check.
	Testdata fs.FS
	// Only, when not empty, restricts the recomputation to the sets of
	// these model ids; the digests of every file are still checked.
	Only []string
}

// TensorResult is the comparison of one output tensor of one case.
type TensorResult struct {
	Model, Version, Case, Tensor string
	Tolerance                    numerics.Tolerance
	Diff                         numerics.Diff
}

// Label names the compared tensor as "<model>/<version> <case> <tensor>".
func (r TensorResult) Label() string {
	return fmt.Sprintf("%s/%s %s %s", r.Model, r.Version, r.Case, r.Tensor)
}

// VerifyResult is the outcome of VerifyGoldens.
type VerifyResult struct {
	Manifest *golden.Manifest
	Tensors  []TensorResult
}

// Failures returns the tensors outside their tolerance.
func (r *VerifyResult) Failures() []TensorResult {
	var out []TensorResult
	for _, t := range r.Tensors {
		if !t.Diff.OK() {
			out = append(out, t)
		}
	}
	return out
}

// OK reports whether every tensor agreed.
func (r *VerifyResult) OK() bool { return len(r.Failures()) == 0 }

// VerifyGoldens checks the golden directory dir of fsys: it checks the
// sha256 of every file the manifest lists (and of the weights, see
// VerifyOptions), then recomputes every case with the matching model of
// models and compares each output with numerics.CompareMasked under the set's
// tolerance class. Mismatches are data in the result; the error reports a
// set that cannot be checked: an unreadable manifest, a missing model or
// tolerance class, or files whose digests differ (*IntegrityError values,
// joined, one per file, before anything is computed).
func VerifyGoldens(fsys fs.FS, dir string, models []Model, opts VerifyOptions) (*VerifyResult, error) {
	m, _, err := golden.ReadManifest(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if m.SpecVersion != spec.Version {
		return nil, fmt.Errorf("reference: %s: /specVersion is %q, this build implements %q", path.Join(dir, golden.ManifestFile), m.SpecVersion, spec.Version)
	}
	var integrity []error
	for _, s := range m.Sets {
		if opts.Testdata != nil {
			if err := checkDigest(opts.Testdata, s.Weights.Path, s.Weights.SHA256); err != nil {
				integrity = append(integrity, err)
			}
		}
		for _, c := range s.Cases {
			if err := checkDigest(fsys, path.Join(dir, c.File), c.SHA256); err != nil {
				integrity = append(integrity, err)
			}
		}
	}
	if len(integrity) > 0 {
		return nil, errors.Join(integrity...)
	}
	// Resolve every set before computing anything, so that a set that
	// cannot be checked fails fast.
	type plan struct {
		set   golden.Set
		where string
		model Model
		tol   numerics.Tolerance
	}
	var plans []plan
	for _, id := range opts.Only {
		if !slices.ContainsFunc(m.Sets, func(s golden.Set) bool { return s.Model == id }) {
			return nil, fmt.Errorf("reference: %s has no golden set of model %q", path.Join(dir, golden.ManifestFile), id)
		}
	}
	for si, s := range m.Sets {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, s.Model) {
			continue
		}
		where := fmt.Sprintf("%s: /sets/%d (%s/%s)", path.Join(dir, golden.ManifestFile), si, s.Model, s.Version)
		model := Find(models, s.Model, s.Version)
		if model == nil {
			return nil, fmt.Errorf("reference: %s: no reference model %s at version %s", where, s.Model, s.Version)
		}
		dtype, err := modelDType(model)
		if err != nil {
			return nil, err
		}
		if s.DType != dtype {
			return nil, fmt.Errorf("reference: %s: /dtype is %s, model version %s computes in %s", where, s.DType, s.Version, dtype)
		}
		tol, ok := spec.Tolerance(s.ToleranceClass)
		if !ok {
			return nil, fmt.Errorf("reference: %s: tolerance class %q is not in spec %s", where, s.ToleranceClass, spec.Version)
		}
		plans = append(plans, plan{s, where, model, tol})
	}
	res := &VerifyResult{Manifest: m}
	for _, p := range plans {
		for _, c := range p.set.Cases {
			l, err := golden.LoadCase(fsys, dir, c)
			if err != nil {
				return nil, fmt.Errorf("reference: %w", err)
			}
			got, err := p.model.Forward(l.Inputs)
			if err != nil {
				return nil, fmt.Errorf("reference: %s case %s: %w", p.where, c.Name, err)
			}
			for _, name := range c.Outputs {
				g, ok := got[name]
				if !ok {
					return nil, fmt.Errorf("reference: %s case %s: model %s/%s has no output %q", p.where, c.Name, p.set.Model, p.set.Version, name)
				}
				want := l.Outputs[name]
				compared, err := golden.ComparedMask(p.set.Model, name, l.Inputs, want.Shape)
				if err != nil {
					return nil, fmt.Errorf("reference: %s case %s: %w", p.where, c.Name, err)
				}
				res.Tensors = append(res.Tensors, TensorResult{
					Model: p.set.Model, Version: p.set.Version, Case: c.Name, Tensor: name,
					Tolerance: p.tol, Diff: numerics.CompareMasked(g, want, p.tol, compared),
				})
			}
		}
	}
	return res, nil
}

// checkDigest reads p from fsys and compares its sha256 with want.
func checkDigest(fsys fs.FS, p, want string) error {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return &IntegrityError{File: p, Want: want, Err: err}
	}
	if got := golden.Digest(b); got != want {
		return &IntegrityError{File: p, Got: got, Want: want}
	}
	return nil
}

// Find returns the model with the given id and version, or nil.
func Find(models []Model, id, version string) Model {
	for _, m := range models {
		if m.ID() == id && m.Version() == version {
			return m
		}
	}
	return nil
}
