package load

import (
	"fmt"
	"syscall"
)

// errMFILE is a dial error of a process out of file descriptors.
var errMFILE = fmt.Errorf("dial tcp: %w", syscall.EMFILE)
