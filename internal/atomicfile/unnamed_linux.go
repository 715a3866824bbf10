package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

const (
	oTmpfile        = 0x400000 | syscall.O_DIRECTORY // O_TMPFILE on every Linux port of Go
	atFDCWD         = -100
	atSymlinkFollow = 0x400
)

// openUnnamed opens a new file in dir that has no name until linkUnnamed gives it one.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := syscall.Open(dir, oTmpfile|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o600)
	switch {
	case err == syscall.EISDIR || err == syscall.EOPNOTSUPP || err == syscall.EINVAL:
		return nil, fmt.Errorf("O_TMPFILE in %s: %w", dir, errors.ErrUnsupported)
	case err != nil:
		return nil, &os.PathError{Op: "create temporary file in", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed temporary file)")), nil
}

// linkUnnamed gives the file opened by openUnnamed a fresh temporary name in dir.
func linkUnnamed(f *os.File, dir, base string) (string, error) {
	src, err := syscall.BytePtrFromString("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", err
	}
	for _, name := range tempNames(dir, base) {
		dst, err := syscall.BytePtrFromString(name)
		if err != nil {
			return "", err
		}
		fdcwd := atFDCWD
		_, _, errno := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(fdcwd), uintptr(unsafe.Pointer(src)),
			uintptr(fdcwd), uintptr(unsafe.Pointer(dst)), atSymlinkFollow, 0)
		switch errno {
		case 0:
			return name, nil
		case syscall.EEXIST:
			continue
		}
		// Most likely /proc is not mounted: write a named temporary file instead.
		return "", fmt.Errorf("link temporary file: %w: %w", errno, errors.ErrUnsupported)
	}
	return "", &os.PathError{Op: "link temporary file", Path: dir, Err: syscall.EEXIST}
}
