//go:build race

package reference

// tfRaceEnabled is true when the tests run under the race detector, which
// makes gorgonia's matrix products about 25 times slower: the
// seed-transformer tests then leave out their largest batches (the plain
// runs cover them) so that go test -race stays quick.
const tfRaceEnabled = true
