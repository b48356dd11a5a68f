package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/atomicfile"
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
	v, ok := spec.LookupVersion(version)
	if !ok {
		return golden.Set{}, fmt.Errorf("reference: generate goldens: model %s has version %q, which is not a reference version of spec %s", id, version, spec.Version)
	}
	dtype := v.Datatype
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
		Producer: framework(), ToleranceClass: v.ToleranceClass, Weights: wref,
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
		if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
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
	Tensors []TensorResult
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

// VerifyGoldens recomputes every case of an opened golden directory (see
// golden.Open, which checks its digests and its cases) with the matching
// model of models and compares the outputs with the case's through the
// set's contract (spec.Contract.Compare) under the set's tolerance class.
// only, when not empty, restricts the recomputation to the sets of these
// model ids. Mismatches are data in the result; the error reports a set
// that cannot be checked: a model id of only the directory has no set of,
// or a set no model of models computes.
func VerifyGoldens(d *golden.Directory, models []Model, only []string) (*VerifyResult, error) {
	for _, id := range only {
		if !slices.ContainsFunc(d.Sets, func(s golden.LoadedSet) bool { return s.Model == id }) {
			return nil, fmt.Errorf("reference: %s has no golden set of model %q", golden.ManifestFile, id)
		}
	}
	// Resolve every set before computing anything, so that a set that
	// cannot be checked fails fast.
	type plan struct {
		set   golden.LoadedSet
		where string
		model Model
	}
	var plans []plan
	for si, s := range d.Sets {
		if len(only) > 0 && !slices.Contains(only, s.Model) {
			continue
		}
		where := fmt.Sprintf("%s: /sets/%d (%s/%s)", golden.ManifestFile, si, s.Model, s.Version)
		model := Find(models, s.Model, s.Version)
		if model == nil {
			return nil, fmt.Errorf("reference: %s: no reference model %s at version %s", where, s.Model, s.Version)
		}
		plans = append(plans, plan{s, where, model})
	}
	res := &VerifyResult{}
	for _, p := range plans {
		for _, l := range p.set.Loaded {
			got, err := p.model.Forward(l.Inputs)
			if err != nil {
				return nil, fmt.Errorf("reference: %s case %s: %w", p.where, l.Name, err)
			}
			diffs, err := p.set.Contract.Compare(l.Inputs, got, l.Outputs, p.set.Tolerance)
			if err != nil {
				return nil, fmt.Errorf("reference: %s case %s: %w", p.where, l.Name, err)
			}
			for _, od := range diffs {
				res.Tensors = append(res.Tensors, TensorResult{
					Model: p.set.Model, Version: p.set.Version, Case: l.Name, Tensor: od.Name,
					Tolerance: p.set.Tolerance, Diff: od.Diff,
				})
			}
		}
	}
	return res, nil
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
