//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

// openUnnamed reports that files without a name are a Linux feature.
func openUnnamed(dir string) (*os.File, error) { return nil, errors.ErrUnsupported }

// linkUnnamed is never called where openUnnamed fails.
func linkUnnamed(f *os.File, dir, base string) (string, error) { return "", errors.ErrUnsupported }
