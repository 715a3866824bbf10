//go:build unix

package session

import (
	"errors"
	"syscall"
)

// processRunning reports whether the process with ID pid exists.
func processRunning(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
