package session

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// writeFileAtomic replaces the file at path with data so that, whenever the process or
// the machine stops, path holds its old content or data, whole (the pattern of
// github.com/google/renameio). A symbolic link at path is followed. A new file gets mode
// 0600, an existing one keeps its mode. On error, path is unchanged and no temporary
// file is left behind.
func writeFileAtomic(path string, data []byte) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	perm := fs.FileMode(0o600)
	switch info, err := os.Stat(path); {
	case err == nil && info.IsDir():
		return errors.New("is a directory")
	case err == nil && !info.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	case err == nil:
		perm = info.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	// The temporary file must be in path's directory: rename is atomic only within one
	// file system.
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := writeTemp(dir, base, data, perm, true)
	if errors.Is(err, errors.ErrUnsupported) {
		tmp, err = writeTemp(dir, base, data, perm, false)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// writeTemp writes data with mode perm to a new file in dir, syncs and closes it, and
// returns its name. With unnamed, the file has no name until it is whole and synced
// (Linux's O_TMPFILE), so that a process killed while writing leaves nothing behind;
// where that is unsupported, writeTemp reports errors.ErrUnsupported.
func writeTemp(dir, base string, data []byte, perm fs.FileMode, unnamed bool) (name string, err error) {
	var f *os.File
	if unnamed {
		f, err = openUnnamed(dir)
	} else {
		f, err = os.CreateTemp(dir, "."+base+".tmp-*")
		if err == nil {
			name = f.Name()
		}
	}
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			if name != "" {
				os.Remove(name)
			}
			name = ""
		}
	}()
	if _, err = f.Write(data); err != nil {
		return name, err
	}
	if err = f.Chmod(perm); err != nil {
		return name, err
	}
	if err = f.Sync(); err != nil {
		return name, err
	}
	if unnamed {
		if name, err = linkUnnamed(f, dir, base); err != nil {
			return name, err
		}
	}
	return name, f.Close()
}

// tempName returns a fresh name for a temporary file beside base in dir.
func tempName(dir, base string) string {
	return filepath.Join(dir, "."+base+".tmp-"+rand.Text()[:12])
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
