//go:build unix

package sqlstore_test

import "syscall"

// syncDisk writes every file's dirty pages to disk, so that a benchmark does not time
// the system's writeback of what its setup wrote.
func syncDisk() { syscall.Sync() }
