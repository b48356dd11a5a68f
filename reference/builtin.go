package reference

import (
	"fmt"
	"sync"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
)

var builtin = sync.OnceValues(func() ([]Model, error) {
	models, _, err := Load(aiconform.Weights())
	if err != nil {
		return nil, fmt.Errorf("reference: embedded weights: %w", err)
	}
	return models, nil
})

// Builtin returns every reference model at every version (fp32 then fp64,
// in ModelIDs order) with the published weights embedded in the binary
// (aiconform.Weights). The models are built once and shared; they are safe
// for concurrent use. It errors only if the embedded weights are malformed,
// which the package tests rule out.
func Builtin() ([]Model, error) {
	models, err := builtin()
	if err != nil {
		return nil, err
	}
	return append([]Model(nil), models...), nil
}

// PublishedWeightsRefs returns, for each model id, the reference to its
// published weights file (path relative to the testdata root, sha256), as
// golden manifests record it.
func PublishedWeightsRefs() (map[string]golden.FileRef, error) {
	refs := map[string]golden.FileRef{}
	for _, id := range ModelIDs() {
		_, b, err := LoadWeights(aiconform.Weights(), id)
		if err != nil {
			return nil, fmt.Errorf("reference: embedded weights: %w", err)
		}
		refs[id] = WeightsRef(id, b)
	}
	return refs, nil
}
