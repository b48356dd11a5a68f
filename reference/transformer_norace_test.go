//go:build !race

package reference

// tfRaceEnabled is true when the tests run under the race detector (see
// transformer_race_test.go).
const tfRaceEnabled = false
