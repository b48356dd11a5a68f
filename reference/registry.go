package reference

import (
	"fmt"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// The model ids of the reference models this build implements, as
// spec/v1/models.json names them.
const (
	SeedCNNID         = "seed-cnn"
	SeedRNNID         = "seed-rnn"
	SeedTransformerID = "seed-transformer"
)

// implementation is what this package holds for one reference model; its
// served tensors are the model's contract in package spec.
type implementation struct {
	id string
	// weights lists the model's tensors with their initialisation rules.
	weights func() []weightgen.Spec
	// build returns the model computing in a dtype with the given weights.
	build func(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error)
	// goldenInputs returns the model's published golden inputs.
	goldenInputs func() []GoldenInput
}

// registry is every reference model this build implements, in the order of
// spec.ReferenceModels (a test keeps the two in step).
var registry = []implementation{
	{id: SeedCNNID, weights: SeedCNNWeightSpecs, build: NewSeedCNN, goldenInputs: cnnGoldenInputs},
	{id: SeedRNNID, weights: SeedRNNWeightSpecs, build: NewSeedRNN, goldenInputs: rnnGoldenInputs},
	{id: SeedTransformerID, weights: SeedTransformerWeightSpecs, build: NewSeedTransformer, goldenInputs: tfGoldenInputs},
}

// ModelIDs lists the reference models this build implements.
func ModelIDs() []string {
	ids := make([]string, len(registry))
	for i, r := range registry {
		ids[i] = r.id
	}
	return ids
}

// lookup returns the registry entry of a model id.
func lookup(modelID string) (implementation, error) {
	for _, r := range registry {
		if r.id == modelID {
			return r, nil
		}
	}
	return implementation{}, fmt.Errorf("reference: unknown model %q (known: %v)", modelID, ModelIDs())
}
