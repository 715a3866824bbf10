//go:build unix

package atomicfile

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of old, the file it replaces, where the process
// may: root always, others only a group they belong to, of a file they own. Where it
// may not, f stays the process's, as a file it creates.
func keepOwner(f *os.File, old fs.FileInfo) error {
	if old == nil {
		return nil
	}
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return nil
	}
	err := f.Chown(int(st.Uid), int(st.Gid))
	if err != nil && os.Geteuid() != 0 {
		return nil
	}
	return err
}
