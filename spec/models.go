package spec

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/aiconform/aiconform/numerics"
)

// ModelsJSON is spec/v1/models.json as embedded in the binary: the served
// contract of every reference model (spec/v1/reference-models.md, "Served
// tensors" and "Input domain") as data. Every package that needs a model's
// tensors, its padding rule or its input domain reads it from here.
//
//go:embed v1/models.json
var ModelsJSON []byte

// FloatPlaceholder is the datatype models.json writes for a floating tensor
// whose datatype is the reference version's (FP32 in fp32, FP64 in fp64).
const FloatPlaceholder = "F"

// Tensor is one served tensor of a reference model at one version; −1 in
// Shape is a variable dimension.
type Tensor struct {
	Name     string         `json:"name"`
	Datatype numerics.DType `json:"datatype"`
	Shape    []int64        `json:"shape"`
	// Optional inputs may be absent from the metadata and the request.
	Optional bool `json:"optional,omitempty"`
	// Classification marks an output whose rows along the last axis are
	// class scores (NUM-TOP1 examines them).
	Classification bool `json:"classification,omitempty"`
	// Distribution marks an output whose rows along the last axis are
	// probability distributions (NUM-OUTPUT-VALID examines them).
	Distribution bool `json:"distribution,omitempty"`
	// MaskedBy names the input whose zero entries leave the output's
	// positions unspecified: element (n, t, …) of the output is compared
	// only where the input's element (n, t) is not zero.
	MaskedBy string `json:"maskedBy,omitempty"`
	// Domain is the input domain the suite draws inputs from.
	Domain *Domain `json:"domain,omitempty"`
}

// Domain is the set an input's values are drawn from. Exactly one of
// Uniform, Integers or Mask is set.
type Domain struct {
	// Uniform is [lo, hi): each value uniform in it.
	Uniform *[2]float64 `json:"uniform,omitempty"`
	// Integers is [lo, hi], both included: each value uniform in it.
	Integers *[2]int64 `json:"integers,omitempty"`
	// Pad is the value at padded positions of an integer input.
	Pad *int64 `json:"pad,omitempty"`
	// Mask marks a padding mask: each row is ones followed by zeros, with
	// at least one 1.
	Mask bool `json:"mask,omitempty"`
}

// Sequence is a model's variable sequence axis: every input whose shape is
// −1 there takes one length per request, in [Min, Max].
type Sequence struct {
	Axis int   `json:"axis"`
	Min  int64 `json:"min"`
	Max  int64 `json:"max"`
}

// Contract is the served interface of a reference model at one version:
// what a vendor's model metadata must declare and its responses carry.
type Contract struct {
	Model   string
	Version string
	// Tolerance is the tolerance class of the version.
	Tolerance string
	Inputs    []Tensor
	Outputs   []Tensor
	// Sequence is nil for a model without a sequence axis.
	Sequence *Sequence
	// Battery holds the model's own cases of the bad-input battery
	// (spec/v1/safety.md).
	Battery Battery
}

// Battery is what the bad-input battery sends one model beyond the cases
// every model gets.
type Battery struct {
	// WrongShapes are shapes with a wrong fixed dimension
	// (SAFE-WRONG-SHAPE).
	WrongShapes [][]int64 `json:"wrongShapes,omitempty"`
	// TooLong asks for a sequence one longer than Sequence.Max
	// (SAFE-WRONG-SHAPE).
	TooLong bool `json:"tooLong,omitempty"`
	// HugeBatch asks for a shape declaring 2³¹ samples with one data
	// element (SAFE-OVERSIZE).
	HugeBatch bool `json:"hugeBatch,omitempty"`
}

// ModelVersion is a reference version: the datatype of its floating
// tensors and the tolerance class its outputs are compared under.
type ModelVersion struct {
	ID             string         `json:"id"`
	Datatype       numerics.DType `json:"datatype"`
	ToleranceClass string         `json:"toleranceClass"`
}

// GoldenManifest names the published golden set of this version of the
// standard by the path of its manifest in the project and the manifest's
// sha256. A report whose goldens have another manifest was not checked
// against the published goldens.
type GoldenManifest struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// PublishedGoldenManifest returns the published golden manifest of this
// version of the standard.
func PublishedGoldenManifest() GoldenManifest { return mustModels().GoldenManifest }

type modelDoc struct {
	ID       string    `json:"id"`
	Battery  Battery   `json:"battery"`
	Sequence *Sequence `json:"sequence,omitempty"`
	Inputs   []Tensor  `json:"inputs"`
	Outputs  []Tensor  `json:"outputs"`
}

type modelsDoc struct {
	Kind           string         `json:"kind"`
	SpecVersion    string         `json:"specVersion"`
	GoldenManifest GoldenManifest `json:"goldenManifest"`
	Versions       []ModelVersion `json:"versions"`
	Models         []modelDoc     `json:"models"`
}

var loadModels = sync.OnceValues(func() (*modelsDoc, error) {
	var d modelsDoc
	dec := json.NewDecoder(bytes.NewReader(ModelsJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("spec: embedded v1/models.json: %w", err)
	}
	return &d, nil
})

func mustModels() *modelsDoc {
	d, err := loadModels()
	if err != nil {
		panic(err)
	}
	return d
}

// ReferenceModels lists the reference model ids, in the order the
// standard lists them.
func ReferenceModels() []string {
	d := mustModels()
	ids := make([]string, len(d.Models))
	for i, m := range d.Models {
		ids[i] = m.ID
	}
	return ids
}

// ReferenceVersions lists the reference versions, the default first.
func ReferenceVersions() []string {
	d := mustModels()
	ids := make([]string, len(d.Versions))
	for i, v := range d.Versions {
		ids[i] = v.ID
	}
	return ids
}

// LookupVersion returns a reference version.
func LookupVersion(version string) (ModelVersion, bool) {
	for _, v := range mustModels().Versions {
		if v.ID == version {
			return v, true
		}
	}
	return ModelVersion{}, false
}

// ModelContract returns the served interface of a reference model at a
// reference version.
func ModelContract(model, version string) (Contract, error) {
	d := mustModels()
	v, ok := LookupVersion(version)
	if !ok {
		return Contract{}, fmt.Errorf("reference version %q is not one of %v", version, ReferenceVersions())
	}
	i := slices.IndexFunc(d.Models, func(m modelDoc) bool { return m.ID == model })
	if i < 0 {
		return Contract{}, fmt.Errorf("reference model %q is not one of %v", model, ReferenceModels())
	}
	m := d.Models[i]
	c := Contract{Model: m.ID, Version: v.ID, Tolerance: v.ToleranceClass, Inputs: resolve(m.Inputs, v.Datatype), Outputs: resolve(m.Outputs, v.Datatype)}
	c.Battery = Battery{WrongShapes: make([][]int64, len(m.Battery.WrongShapes)), TooLong: m.Battery.TooLong, HugeBatch: m.Battery.HugeBatch}
	for i, w := range m.Battery.WrongShapes {
		c.Battery.WrongShapes[i] = slices.Clone(w)
	}
	if m.Sequence != nil {
		s := *m.Sequence
		c.Sequence = &s
	}
	return c, nil
}

// resolve copies tensors with the version's floating datatype in place of
// the placeholder.
func resolve(ts []Tensor, float numerics.DType) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		t.Shape = slices.Clone(t.Shape)
		if t.Datatype == FloatPlaceholder {
			t.Datatype = float
		}
		if t.Domain != nil {
			d := *t.Domain
			t.Domain = &d
		}
		out[i] = t
	}
	return out
}

// Input returns the contract's input with the given name.
func (c Contract) Input(name string) (Tensor, bool) { return find(c.Inputs, name) }

// Output returns the contract's output with the given name.
func (c Contract) Output(name string) (Tensor, bool) { return find(c.Outputs, name) }

func find(ts []Tensor, name string) (Tensor, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Matches reports whether a concrete shape fits the tensor's shape (same
// rank; −1 matches any size).
func (t Tensor) Matches(shape []int64) bool {
	if len(shape) != len(t.Shape) {
		return false
	}
	for i, d := range t.Shape {
		if d != -1 && shape[i] != d {
			return false
		}
	}
	return true
}

// Fits checks that a tensor has the contract tensor's datatype and a shape
// that fits its shape.
func (t Tensor) Fits(x numerics.Tensor) error {
	if err := x.Validate(); err != nil {
		return err
	}
	if x.DType != t.Datatype {
		return fmt.Errorf("datatype %s, the contract says %s", x.DType, t.Datatype)
	}
	if !t.Matches(x.Shape) {
		return fmt.Errorf("shape %v does not fit the contract's %v", x.Shape, t.Shape)
	}
	return nil
}

// ComparedMask returns which elements of output name the standard compares
// for the given inputs and output shape, or nil when every element is
// compared: where the output is MaskedBy an input of shape [N, T] holding
// zeros, element (n, t, …) is compared only where input[n, t] is not zero
// (every element when the input is absent).
func (c Contract) ComparedMask(name string, inputs map[string]numerics.Tensor, outputShape []int64) ([]bool, error) {
	out, ok := c.Output(name)
	if !ok || out.MaskedBy == "" {
		return nil, nil
	}
	mask, ok := inputs[out.MaskedBy]
	if !ok {
		return nil, nil
	}
	if mask.DType != numerics.INT64 || len(mask.Shape) != 2 || len(mask.I64) != mask.Len() {
		return nil, fmt.Errorf("%s is %s %v, want INT64 [N,T]", out.MaskedBy, mask.DType, mask.Shape)
	}
	if len(outputShape) < 2 || !slices.Equal(outputShape[:2], mask.Shape) {
		return nil, fmt.Errorf("%s shape %v does not extend %s shape %v", name, outputShape, out.MaskedBy, mask.Shape)
	}
	inner := 1
	for _, d := range outputShape[2:] {
		inner *= int(d)
	}
	compared := make([]bool, len(mask.I64)*inner)
	for p, m := range mask.I64 {
		if m == 0 {
			continue
		}
		for v := 0; v < inner; v++ {
			compared[p*inner+v] = true
		}
	}
	return compared, nil
}

// OutputDiff is the comparison of one output of a model. Its JSON form is
// the Diff's with the output's name added.
type OutputDiff struct {
	Name string
	numerics.Diff
}

// MarshalJSON writes {"name": ..., <the Diff's members>}.
func (o OutputDiff) MarshalJSON() ([]byte, error) {
	d, err := json.Marshal(o.Diff)
	if err != nil {
		return nil, err
	}
	n, err := json.Marshal(o.Name)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"name":`), n...)
	if len(d) > 2 {
		out = append(out, ',')
	}
	return append(out, d[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *OutputDiff) UnmarshalJSON(b []byte) error {
	var name struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	o.Name = name.Name
	return json.Unmarshal(b, &o.Diff)
}

// Compare compares every output of the contract that want holds with the
// one got holds, under tol, leaving out the elements ComparedMask leaves
// unspecified. An output missing from got is a Diff with a Problem. It is
// the one routine that compares a model's outputs, for golden cases and
// for outputs computed during a run alike.
func (c Contract) Compare(inputs, got, want map[string]numerics.Tensor, tol numerics.Tolerance) ([]OutputDiff, error) {
	var out []OutputDiff
	for _, t := range c.Outputs {
		w, ok := want[t.Name]
		if !ok {
			continue
		}
		g, ok := got[t.Name]
		if !ok {
			out = append(out, OutputDiff{Name: t.Name, Diff: numerics.Diff{Worst: -1, Problem: "output is missing"}})
			continue
		}
		mask, err := c.ComparedMask(t.Name, inputs, w.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s/%s output %s: %w", c.Model, c.Version, t.Name, err)
		}
		out = append(out, OutputDiff{Name: t.Name, Diff: numerics.CompareMasked(g, w, tol, mask)})
	}
	return out, nil
}
