// Package racedetect says whether the binary was built with the race
// detector, which makes compute-bound code many times slower: tests that
// would take minutes under it run a smaller share of their cases there,
// and say so.
package racedetect
