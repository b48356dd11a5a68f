package conformance

import (
	"fmt"
	"slices"

	"github.com/aiconform/aiconform/numerics"
)

// The reference models' served tensors (DESIGN.md, "Served tensors"): what
// a vendor's model metadata must declare and its responses must carry.

// ReferenceModels lists the reference model ids a profile may name.
var ReferenceModels = []string{"seed-cnn", "seed-rnn", "seed-transformer"}

// ReferenceVersions lists the reference versions; the version names the
// datatype of the model's floating tensors.
var ReferenceVersions = []string{"fp32", "fp64"}

// ContractTensor is one served tensor of a reference model; -1 in Shape
// is a variable dimension.
type ContractTensor struct {
	Name     string
	Datatype numerics.DType
	Shape    []int64
	// Optional inputs may be absent from the metadata and the request.
	Optional bool
}

// Contract is the served interface of a reference model at one version.
type Contract struct {
	Model   string
	Version string
	Inputs  []ContractTensor
	Outputs []ContractTensor
}

// ReferenceContract returns the served interface of a reference model at
// version fp32 or fp64.
func ReferenceContract(model, version string) (Contract, error) {
	var f numerics.DType
	switch version {
	case "fp32":
		f = numerics.FP32
	case "fp64":
		f = numerics.FP64
	default:
		return Contract{}, fmt.Errorf("reference version %q is not one of %v", version, ReferenceVersions)
	}
	c := Contract{Model: model, Version: version}
	switch model {
	case "seed-cnn":
		c.Inputs = []ContractTensor{{Name: "input", Datatype: f, Shape: []int64{-1, 1, 28, 28}}}
		c.Outputs = []ContractTensor{
			{Name: "logits", Datatype: f, Shape: []int64{-1, 10}},
			{Name: "probabilities", Datatype: f, Shape: []int64{-1, 10}},
		}
	case "seed-rnn":
		c.Inputs = []ContractTensor{{Name: "input", Datatype: f, Shape: []int64{-1, -1, 10}}}
		c.Outputs = []ContractTensor{{Name: "logits", Datatype: f, Shape: []int64{-1, 2}}}
	case "seed-transformer":
		c.Inputs = []ContractTensor{
			{Name: "input_ids", Datatype: numerics.INT64, Shape: []int64{-1, -1}},
			{Name: "attention_mask", Datatype: numerics.INT64, Shape: []int64{-1, -1}, Optional: true},
		}
		c.Outputs = []ContractTensor{{Name: "logits", Datatype: f, Shape: []int64{-1, -1, 100}}}
	default:
		return Contract{}, fmt.Errorf("reference model %q is not one of %v", model, ReferenceModels)
	}
	return c, nil
}

// Output returns the contract's output with the given name.
func (c Contract) Output(name string) (ContractTensor, bool) {
	for _, t := range c.Outputs {
		if t.Name == name {
			return t, true
		}
	}
	return ContractTensor{}, false
}

// Matches reports whether a concrete shape fits the contract's shape
// (same rank; -1 matches any size).
func (t ContractTensor) Matches(shape []int64) bool {
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

// declared compares a metadata entry with the contract tensor and returns
// what differs, or "".
func (t ContractTensor) declared(datatype string, shape []int64) string {
	switch {
	case datatype != string(t.Datatype) && !slices.Equal(shape, t.Shape):
		return fmt.Sprintf("declared %s %v, want %s %v", datatype, shape, t.Datatype, t.Shape)
	case datatype != string(t.Datatype):
		return fmt.Sprintf("datatype %s, want %s", datatype, t.Datatype)
	case !slices.Equal(shape, t.Shape):
		return fmt.Sprintf("shape %v, want %v (-1 is a variable dimension)", shape, t.Shape)
	}
	return ""
}
