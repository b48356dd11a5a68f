// Package reference holds the reference models of the aiconform standard
// (seed-cnn, and later seed-rnn and seed-transformer), built with gorgonia
// from deterministic published weights, together with the plain-Go float64
// implementations that check them.
package reference

import (
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// Model is a reference model at one version (fp32 or fp64). Forward runs a
// batch; inputs are keyed by input name and must match Inputs(); it returns
// every output of Outputs(). Implementations are safe for concurrent use.
type Model interface {
	// ID is the model id of the spec, e.g. "seed-cnn".
	ID() string
	// Version is "fp32" or "fp64".
	Version() string
	// Inputs and Outputs are the served tensors of the model's contract
	// (spec.ModelContract of its id and version).
	Inputs() []spec.Tensor
	Outputs() []spec.Tensor
	Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}
