package reference

import (
	"fmt"
	"io/fs"
	"slices"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
	"github.com/aiconform/aiconform/safetensors"
)

// WeightSpecs returns a model's tensors (PyTorch state_dict names and
// layouts) with their initialisation rules.
func WeightSpecs(modelID string) ([]weightgen.Spec, error) {
	r, err := lookup(modelID)
	if err != nil {
		return nil, err
	}
	return r.weights(), nil
}

// GenerateWeights returns a model's FP32 weights from the deterministic
// generator of package weightgen under weightgen.Seed.
func GenerateWeights(modelID string) (map[string]numerics.Tensor, error) {
	specs, err := WeightSpecs(modelID)
	if err != nil {
		return nil, err
	}
	w, err := weightgen.Generate(weightgen.Seed, specs)
	if err != nil {
		return nil, fmt.Errorf("reference: %s: %w", modelID, err)
	}
	return w, nil
}

// WeightsFile is the name of a model's weights file in the weights
// directory (testdata/weights): "<model-id>.safetensors".
func WeightsFile(modelID string) string { return modelID + ".safetensors" }

// WeightsPath is the path of a model's weights file relative to the
// testdata root, as golden manifests record it: "weights/<model-id>.safetensors".
// (A manifest cannot point at "../../weights" because fs.FS paths have no
// "..", so weights paths are relative to the testdata root, see
// aiconform.Testdata.)
func WeightsPath(modelID string) string { return "weights/" + WeightsFile(modelID) }

// EncodeWeights returns the safetensors bytes of a model's weights with the
// generator's metadata (format, generator, model, seed).
func EncodeWeights(modelID string, weights map[string]numerics.Tensor) ([]byte, error) {
	b, err := safetensors.Encode(weights, weightgen.Metadata(modelID, weightgen.Seed))
	if err != nil {
		return nil, fmt.Errorf("reference: encoding the weights of %s: %w", modelID, err)
	}
	return b, nil
}

// WeightsRef returns the golden-manifest reference to a model's weights
// file with contents b.
func WeightsRef(modelID string, b []byte) golden.FileRef {
	return golden.FileRef{Path: WeightsPath(modelID), SHA256: golden.Digest(b)}
}

// LoadWeights reads and decodes <model-id>.safetensors from a weights
// directory and checks that it holds exactly the model's tensors. It returns
// the tensors and the file's bytes.
func LoadWeights(weightsDir fs.FS, modelID string) (map[string]numerics.Tensor, []byte, error) {
	specs, err := WeightSpecs(modelID)
	if err != nil {
		return nil, nil, err
	}
	name := WeightsFile(modelID)
	b, err := fs.ReadFile(weightsDir, name)
	if err != nil {
		return nil, nil, fmt.Errorf("reference: weights of %s: %w", modelID, err)
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("reference: weights file %s: %w", name, err)
	}
	for _, s := range specs {
		t, ok := f.Tensors[s.Name]
		if !ok {
			return nil, nil, fmt.Errorf("reference: weights file %s: no tensor %q", name, s.Name)
		}
		if t.DType != numerics.FP32 || !slices.Equal(t.Shape, s.Shape) {
			return nil, nil, fmt.Errorf("reference: weights file %s: tensor %q is %s %v, want F32 %v", name, s.Name, t.DType, t.Shape, s.Shape)
		}
	}
	if len(f.Tensors) != len(specs) {
		return nil, nil, fmt.Errorf("reference: weights file %s holds %d tensors, want the %d of %s", name, len(f.Tensors), len(specs), modelID)
	}
	return f.Tensors, b, nil
}

// New returns reference model modelID computing in dtype with weights.
func New(modelID string, weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	r, err := lookup(modelID)
	if err != nil {
		return nil, err
	}
	return r.build(weights, dtype)
}

// Load returns every reference model at every version with the weights of
// a weights directory (laid out as testdata/weights), in ModelIDs order,
// fp32 before fp64, and a weights reference per model id for golden
// manifests.
func Load(weightsDir fs.FS) ([]Model, map[string]golden.FileRef, error) {
	var models []Model
	refs := map[string]golden.FileRef{}
	for _, id := range ModelIDs() {
		w, b, err := LoadWeights(weightsDir, id)
		if err != nil {
			return nil, nil, err
		}
		refs[id] = WeightsRef(id, b)
		for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
			m, err := New(id, w, dt)
			if err != nil {
				return nil, nil, err
			}
			models = append(models, m)
		}
	}
	return models, refs, nil
}
