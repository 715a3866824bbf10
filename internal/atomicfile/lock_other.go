//go:build !unix

package atomicfile

import (
	"errors"
	"os"
)

// lock reports that files are not locked here: no temporary file is taken for stale.
func lock(f *os.File, wait bool) error { return errors.ErrUnsupported }
