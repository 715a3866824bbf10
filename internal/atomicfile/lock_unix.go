//go:build unix

package atomicfile

import (
	"os"
	"syscall"
)

// lock takes the exclusive lock of f, waiting for it with wait. Locks of a process are
// released by the kernel when it dies.
func lock(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
