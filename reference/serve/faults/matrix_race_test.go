//go:build race

package faults

import "time"

// matrixTimeout is the request timeout of the fault matrix' runs. Under the
// race detector gorgonia's forward passes are about 25 times slower, and a
// batch of seed-transformer sequences of up to 64 tokens, answered while
// other runs of the matrix compete for the CPUs, takes seconds.
const matrixTimeout = 30 * time.Second
