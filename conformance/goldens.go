package conformance

import (
	"bytes"
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
}

// goldenSet is a golden set with its cases loaded and verified.
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
// golden sets of its reference model and version, each case read and its
// digest verified. Any problem is a configuration error: a run without
// trustworthy goldens cannot happen.
func loadModels(p *Profile, builtin fs.FS) ([]*modelUnderTest, error) {
	fsys, where, err := goldensFS(p, builtin)
	if err != nil {
		return nil, err
	}
	man, raw, err := golden.ReadManifest(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
	}
	doc, err := schemas.DecodeDocument(golden.ManifestFile, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrConfig, where, golden.ManifestFile, err)
	}
	vs, err := schemas.Validate(golden.Kind, "v1", doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrConfig, where, golden.ManifestFile, err)
	}
	if len(vs) > 0 {
		var b bytes.Buffer
		for i, v := range vs {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", v.Pointer, v.Message)
		}
		return nil, fmt.Errorf("%w: %s: %s breaks the golden-manifest schema: %s", ErrConfig, where, golden.ManifestFile, b.String())
	}
	var out []*modelUnderTest
	for i, m := range p.Models {
		c, err := spec.ModelContract(m.Reference, m.ReferenceVersion)
		if err != nil {
			return nil, &ProfileError{Source: p.Source(), Violations: []schemas.Violation{{Pointer: fmt.Sprintf("/models/%d", i), Message: err.Error()}}}
		}
		tol, ok := spec.Tolerance(c.Tolerance)
		if !ok {
			return nil, fmt.Errorf("%w: reference version %s names tolerance class %q, which spec %s does not define", ErrConfig, c.Version, c.Tolerance, spec.Version)
		}
		mut := &modelUnderTest{ref: m, contract: c, tol: tol}
		for _, s := range man.Sets {
			if s.Model != m.Reference || s.Version != m.ReferenceVersion {
				continue
			}
			tol, ok := spec.Tolerance(s.ToleranceClass)
			if !ok {
				return nil, fmt.Errorf("%w: %s: set %s/%s names tolerance class %q, which spec %s does not define", ErrConfig, where, s.Model, s.Version, s.ToleranceClass, spec.Version)
			}
			gs := goldenSet{set: s, tol: tol}
			for _, cs := range s.Cases {
				l, err := golden.LoadCase(fsys, ".", cs)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
				}
				if err := checkCase(c, l); err != nil {
					return nil, fmt.Errorf("%w: %s: set %s/%s case %s: %w", ErrConfig, where, s.Model, s.Version, cs.Name, err)
				}
				gs.cases = append(gs.cases, l)
			}
			if len(gs.cases) > 0 {
				mut.sets = append(mut.sets, gs)
			}
		}
		if len(mut.sets) == 0 {
			return nil, fmt.Errorf("%w: %s: /models/%d: %s has no golden cases for reference %s/%s", ErrConfig, where, i, m.Label(), m.Reference, m.ReferenceVersion)
		}
		out = append(out, mut)
	}
	return out, nil
}

// checkCase makes sure a golden case fits its model's contract, so that a
// broken golden set is reported as such and not blamed on the target.
func checkCase(c spec.Contract, l golden.Loaded) error {
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
	for name := range l.Inputs {
		if _, ok := c.Input(name); !ok {
			return fmt.Errorf("input %q is not an input of %s", name, c.Model)
		}
	}
	if len(l.Outputs) == 0 {
		return fmt.Errorf("has no outputs")
	}
	for name, t := range l.Outputs {
		out, ok := c.Output(name)
		if !ok {
			return fmt.Errorf("output %q is not an output of %s", name, c.Model)
		}
		if err := out.Fits(t); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
	}
	return nil
}
