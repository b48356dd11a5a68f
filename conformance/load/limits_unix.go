//go:build unix

package load

import "syscall"

// fdLimit is the process's soft limit on open file descriptors, or 0 when
// it cannot be read.
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 0
	}
	return int(l.Cur)
}
