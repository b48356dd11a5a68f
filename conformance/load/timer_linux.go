//go:build linux

package load

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// preciseTimer sleeps to within tens of microseconds of a deadline. The
// runtime's own timers sleep in epoll_wait, whose timeout is in whole
// milliseconds, so an idle process wakes up to a millisecond late: as
// late as the whole lateness budget. A timerfd, read through the
// runtime's poller, wakes the goroutine when the kernel's
// high-resolution timer fires instead.
type preciseTimer struct {
	fd int
	f  *os.File
}

// newPreciseTimer opens a timerfd; the caller closes it.
func newPreciseTimer() (*preciseTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &preciseTimer{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// sleep blocks the goroutine, not the thread, for d.
func (t *preciseTimer) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	var expirations [8]byte
	if _, err := t.f.Read(expirations[:]); err != nil {
		return fmt.Errorf("reading the timerfd: %w", err)
	}
	return nil
}

// close releases the timerfd.
func (t *preciseTimer) close() error { return t.f.Close() }
