package session

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// writeFileAtomic replaces the file at path with data so that, whenever the process or
// the machine stops, path holds its old content or data, whole (the pattern of
// github.com/google/renameio): see Session.SaveToFile for what it keeps of an existing
// file. An error before the rename leaves path unchanged.
func writeFileAtomic(path string, data []byte) error {
	path, err := resolveLinks(path)
	if err != nil {
		return err
	}
	perm := fs.FileMode(0o600)
	info, err := os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		return errors.New("is a directory")
	case err == nil && !info.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", info.Mode().Type())
	case err == nil:
		perm = info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	case errors.Is(err, fs.ErrNotExist):
		info = nil
	default:
		return err
	}
	// The temporary file must be in path's directory: rename is atomic only within one
	// file system.
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	file := newFile{data: data, perm: perm, old: info}
	err = writeAndRename(dir, base, path, file, true)
	if errors.Is(err, errors.ErrUnsupported) {
		err = writeAndRename(dir, base, path, file, false)
	}
	if err != nil {
		return err
	}
	removeStaleTemps(dir, base)
	return syncDir(dir)
}

// maxLinks is how many symbolic links resolveLinks follows, as Linux's path lookup.
const maxLinks = 40

// resolveLinks returns the path of the file that path names once the symbolic links
// at its end are followed, even if the last names a file that does not exist yet.
func resolveLinks(path string) (string, error) {
	for range maxLinks {
		info, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return path, nil
		case err != nil:
			return "", err
		case info.Mode()&fs.ModeSymlink == 0:
			return path, nil
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return "", fmt.Errorf("more than %d symbolic links", maxLinks)
}

// newFile is what writeAndRename writes: data, with mode perm and, where it may, the
// owner of the file it replaces, old (nil if there is none).
type newFile struct {
	data []byte
	perm fs.FileMode
	old  fs.FileInfo
}

// writeAndRename writes file to a new file in dir, syncs it and renames it
// to target. With unnamed, the file has no name until it is whole and synced (Linux's
// O_TMPFILE), and then a temporary name only until the rename that follows at once, so
// that a process killed while saving almost never leaves it behind; where that is
// unsupported, writeAndRename reports errors.ErrUnsupported.
func writeAndRename(dir, base, target string, file newFile, unnamed bool) (err error) {
	var f *os.File
	var name string // the temporary file's name, while it has one
	if unnamed {
		f, err = openUnnamed(dir)
	} else {
		f, err = os.CreateTemp(dir, tempPrefix(base)+"*")
		if err == nil {
			name = f.Name()
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			if name != "" {
				os.Remove(name)
			}
		}
	}()
	if _, err = f.Write(file.data); err != nil {
		return err
	}
	// Chown before Chmod: changing the owner clears the setuid and setgid bits.
	if err = keepOwner(f, file.old); err != nil {
		return err
	}
	if err = f.Chmod(file.perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if unnamed {
		if name, err = linkUnnamed(f, dir, base); err != nil {
			return err
		}
	}
	if err = os.Rename(name, target); err != nil {
		return err
	}
	name = ""
	return f.Close()
}

// tempPrefix is how the names of base's temporary files begin. It holds the process ID,
// so that removeStaleTemps can tell the files of a process that has died.
func tempPrefix(base string) string {
	return "." + base + ".tmp-" + strconv.Itoa(os.Getpid()) + "-"
}

// tempName returns a fresh name for a temporary file beside base in dir.
func tempName(dir, base string) string {
	return filepath.Join(dir, tempPrefix(base)+rand.Text()[:12])
}

// removeStaleTemps removes the temporary files for base in dir that a process killed
// while saving left behind, those of processes no longer running. A failure here costs
// only disk space, so it is not reported.
func removeStaleTemps(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if ok && err == nil && pid != os.Getpid() && !processRunning(pid) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
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
