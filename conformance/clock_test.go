package conformance

import (
	"sync"
	"time"
)

// fixedClock returns a clock that advances by step on every reading; it is
// safe for concurrent use, as Options.Clock must be.
func fixedClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}
