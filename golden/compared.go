package golden

import (
	"fmt"
	"slices"

	"github.com/aiconform/aiconform/numerics"
)

// ComparedMask returns which elements of a reference model's output the
// standard compares, given the inputs that produced it, or nil when every
// element is compared. spec/v1/reference-models.md leaves seed-transformer's
// logits at padded positions (attention_mask 0) unspecified: for that model's
// "logits" [N,T,V], element (n,t,v) is compared only where
// attention_mask[n,t] is 1 (every element when the mask is absent).
func ComparedMask(model, output string, inputs map[string]numerics.Tensor, outputShape []int64) ([]bool, error) {
	if model != "seed-transformer" || output != "logits" {
		return nil, nil
	}
	mask, ok := inputs["attention_mask"]
	if !ok {
		return nil, nil
	}
	if mask.DType != numerics.INT64 || len(mask.Shape) != 2 {
		return nil, fmt.Errorf("golden: attention_mask is %s %v, want INT64 [N,T]", mask.DType, mask.Shape)
	}
	if len(outputShape) != 3 || !slices.Equal(outputShape[:2], mask.Shape) {
		return nil, fmt.Errorf("golden: logits shape %v does not extend attention_mask shape %v by a vocabulary axis", outputShape, mask.Shape)
	}
	positions, vocab := len(mask.I64), int(outputShape[2])
	compared := make([]bool, positions*vocab)
	for p, m := range mask.I64 {
		if m == 0 {
			continue
		}
		for v := 0; v < vocab; v++ {
			compared[p*vocab+v] = true
		}
	}
	return compared, nil
}
