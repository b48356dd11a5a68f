//go:build unix

package load

import (
	"fmt"
	"syscall"
)

var errMFILE = fmt.Errorf("dial tcp: %w", syscall.EMFILE)
