//go:build !race

package faults

import "time"

// matrixTimeout is the request timeout of the fault matrix' runs: short, so
// that a check that polls until the timeout, as that of OIP-HEALTH-READY
// does, stays quick against a fault that never answers as it wants.
const matrixTimeout = 3 * time.Second
