package conformance

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// modelUnderTest is a profile model with its contract and its goldens.
type modelUnderTest struct {
	ref      ModelRef
	contract spec.Contract
	// tol is the tolerance class of the reference version.
	tol  numerics.Tolerance
	sets []goldenSet
	// budgets are the model's latency budgets, from budgetSource.
	budgets      LatencyBudgets
	budgetSource string
}

// goldenSet is a golden set with its cases loaded and checked.
type goldenSet struct {
	set   golden.Set
	tol   numerics.Tolerance
	cases []golden.Loaded
}

// label names the set for messages: "seed-cnn/fp32 (cpu)".
func (g goldenSet) label() string {
	return fmt.Sprintf("%s/%s (%s)", g.set.Model, g.set.Version, g.set.Device)
}

// goldensFS opens the profile's golden set.
func goldensFS(p *Profile, builtin fs.FS) (fs.FS, string, error) {
	src := p.goldensSource()
	if src == BuiltinGoldens {
		if builtin == nil {
			return nil, "", fmt.Errorf("%w: %s: /goldens: the profile uses the built-in goldens but none were provided (Options.Goldens)", ErrConfig, p.Source())
		}
		return builtin, "built-in goldens", nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: /goldens: %w", ErrConfig, p.Source(), err)
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("%w: %s: /goldens: %s is not a directory", ErrConfig, p.Source(), src)
	}
	return os.DirFS(src), src, nil
}

// loadModels resolves every profile model: its reference contract and the
// golden sets of its reference model and version, opened with golden.Open
// (schema, digests, every case checked against its contract). Any problem
// is a configuration error: a run without trustworthy goldens cannot
// happen.
func loadModels(p *Profile, builtin fs.FS) ([]*modelUnderTest, DocumentRef, error) {
	fsys, where, err := goldensFS(p, builtin)
	if err != nil {
		return nil, DocumentRef{}, err
	}
	dir, err := golden.Open(fsys, nil)
	if err != nil {
		return nil, DocumentRef{}, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
	}
	manifest, err := fs.ReadFile(fsys, golden.ManifestFile)
	if err != nil {
		return nil, DocumentRef{}, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
	}
	ref := DocumentRef{Source: p.goldensSource(), SHA256: golden.Digest(manifest)}
	var out []*modelUnderTest
	for i, m := range p.Models {
		c, err := spec.ModelContract(m.Reference, m.ReferenceVersion)
		if err != nil {
			return nil, DocumentRef{}, &ProfileError{Source: p.Source(), Violations: []schemas.Violation{{Pointer: fmt.Sprintf("/models/%d", i), Message: err.Error()}}}
		}
		tol, ok := spec.Tolerance(c.Tolerance)
		if !ok {
			return nil, DocumentRef{}, fmt.Errorf("%w: reference version %s names tolerance class %q, which spec %s does not define", ErrConfig, c.Version, c.Tolerance, spec.Version)
		}
		mut := &modelUnderTest{ref: m, contract: c, tol: tol}
		for _, s := range dir.Sets {
			if s.Model == m.Reference && s.Version == m.ReferenceVersion && len(s.Loaded) > 0 {
				mut.sets = append(mut.sets, goldenSet{set: s.Set, tol: s.Tolerance, cases: s.Loaded})
			}
		}
		if len(mut.sets) == 0 {
			return nil, DocumentRef{}, fmt.Errorf("%w: %s: /models/%d: %s has no golden cases for reference %s/%s", ErrConfig, where, i, m.Label(), m.Reference, m.ReferenceVersion)
		}
		out = append(out, mut)
	}
	return out, ref, nil
}
