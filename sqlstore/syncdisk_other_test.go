//go:build !unix

package sqlstore_test

// syncDisk does nothing where there is no sync(2).
func syncDisk() {}
