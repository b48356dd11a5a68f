package reference

import (
	"context"
	"fmt"

	"github.com/aiconform/aiconform/numerics"
)

// Oracle computes the reference models' outputs for inputs chosen during a
// conformance run: it is the expected side of NUM-LIVE. Its Predict has
// the signature of conformance.Oracle. It is safe for concurrent use.
type Oracle struct {
	models map[[2]string]Model
}

// NewOracle returns an oracle over models, keyed by model id and version.
func NewOracle(models []Model) (*Oracle, error) {
	o := &Oracle{models: map[[2]string]Model{}}
	for _, m := range models {
		k := [2]string{m.ID(), m.Version()}
		if _, dup := o.models[k]; dup {
			return nil, fmt.Errorf("reference: oracle: model %s version %s is given twice", m.ID(), m.Version())
		}
		o.models[k] = m
	}
	return o, nil
}

// BuiltinOracle returns an oracle over the built-in reference models.
func BuiltinOracle() (*Oracle, error) {
	models, err := Builtin()
	if err != nil {
		return nil, err
	}
	return NewOracle(models)
}

// Predict runs reference model id at version on inputs.
func (o *Oracle) Predict(ctx context.Context, id, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, ok := o.models[[2]string{id, version}]
	if !ok {
		return nil, fmt.Errorf("reference: oracle: no model %s version %s", id, version)
	}
	out, err := m.Forward(inputs)
	if err != nil {
		return nil, fmt.Errorf("reference: %s/%s: %w", id, version, err)
	}
	return out, nil
}
