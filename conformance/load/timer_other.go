//go:build !linux

package load

import "time"

// preciseTimer sleeps with the runtime's timers where no timerfd exists.
type preciseTimer struct{}

// newPreciseTimer returns the runtime-timer fallback.
func newPreciseTimer() (*preciseTimer, error) { return &preciseTimer{}, nil }

// sleep sleeps for d.
func (t *preciseTimer) sleep(d time.Duration) error {
	time.Sleep(d)
	return nil
}

// close does nothing.
func (t *preciseTimer) close() error { return nil }
