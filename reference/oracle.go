package reference

import (
	"context"
	"fmt"
	"sync"

	"github.com/aiconform/aiconform/numerics"
)

// Oracle computes the reference models' outputs for inputs chosen during a
// conformance run: it is the expected side of NUM-LIVE. Its Predict has
// the signature of conformance.Oracle. It is safe for concurrent use.
type Oracle struct {
	models func() (map[[2]string]Model, error)
}

// NewOracle returns an oracle over models, keyed by model id and version.
func NewOracle(models []Model) (*Oracle, error) {
	m, err := index(models)
	if err != nil {
		return nil, err
	}
	return &Oracle{models: func() (map[[2]string]Model, error) { return m, nil }}, nil
}

// BuiltinOracle returns an oracle over the built-in reference models. They
// are built when it first predicts, so a run that never gets that far (an
// unreachable target, a bad profile) does not pay for them.
func BuiltinOracle() *Oracle {
	return &Oracle{models: sync.OnceValues(func() (map[[2]string]Model, error) {
		models, err := Builtin()
		if err != nil {
			return nil, err
		}
		return index(models)
	})}
}

// index keys models by id and version.
func index(models []Model) (map[[2]string]Model, error) {
	out := map[[2]string]Model{}
	for _, m := range models {
		k := [2]string{m.ID(), m.Version()}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("reference: oracle: model %s version %s is given twice", m.ID(), m.Version())
		}
		out[k] = m
	}
	return out, nil
}

// Predict runs reference model id at version on inputs.
func (o *Oracle) Predict(ctx context.Context, id, version string, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	models, err := o.models()
	if err != nil {
		return nil, err
	}
	m, ok := models[[2]string{id, version}]
	if !ok {
		return nil, fmt.Errorf("reference: oracle: no model %s version %s", id, version)
	}
	out, err := m.Forward(inputs)
	if err != nil {
		return nil, fmt.Errorf("reference: %s/%s: %w", id, version, err)
	}
	return out, nil
}
