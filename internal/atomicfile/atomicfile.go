// Package atomicfile replaces files atomically, in the pattern of
// github.com/google/renameio: whenever the process or the machine stops, the file holds
// its old content or the new, whole.
package atomicfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// WriteFile replaces the file at path with data. It writes a temporary file in the same
// directory (rename is atomic only within one file system), syncs it, renames it over
// path and syncs the directory. An error before the rename leaves path unchanged, and
// no temporary file behind.
//
// A new file is created with mode 0600. An existing file keeps its mode bits (setuid,
// setgid and sticky included) and, where the writer may set them (root may), its owner
// and group. A symbolic link at path is followed, even to a file that does not exist
// yet; the link is never replaced. A directory or another special file is refused.
//
// On Linux the temporary file has no name while it is written and synced (O_TMPFILE),
// and a name only between the moment it is whole and its rename. A process killed in
// that moment leaves it behind, as a hidden ".NAME.tmp-..." file beside path;
// elsewhere the temporary file has that name from the start. The writer of a temporary
// file holds a lock on it (flock) until it is renamed, so WriteFile removes the ones
// whose lock it can take: those of processes that died, never those of a live process,
// whatever its PID namespace or machine (on NFS, the server's locks decide).
func WriteFile(path string, data []byte) error {
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
	RemoveStale(dir, base)
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

// writeAndRename writes file to a new file in dir, syncs it and renames it to target,
// holding the file's lock from its creation to its rename. With unnamed, the file has
// no name until it is whole and synced (Linux's O_TMPFILE); where that is unsupported,
// writeAndRename reports errors.ErrUnsupported.
func writeAndRename(dir, base, target string, file newFile, unnamed bool) (err error) {
	var f *os.File
	var name string // the temporary file's name, while it has one
	if unnamed {
		f, err = openUnnamed(dir)
	} else {
		f, err = createTemp(dir, base)
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
	if err = lock(f, true); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
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

// TempPrefix is how the names of the temporary files of a file named base begin.
func TempPrefix(base string) string {
	return "." + base + ".tmp-"
}

// tempSlots is how many temporary names a file has: as many writers as that write it
// at once under names that RemoveStale looks at. More wait for none: they take random
// names, which a writer killed meanwhile leaves behind.
const tempSlots = 8

// tempNames returns the names a temporary file for base in dir may take, in the order
// to try them: the slots, then a random name.
func tempNames(dir, base string) []string {
	names := make([]string, 0, tempSlots+1)
	for slot := range tempSlots {
		names = append(names, filepath.Join(dir, TempPrefix(base)+strconv.Itoa(slot)))
	}
	return append(names, filepath.Join(dir, TempPrefix(base)+rand.Text()[:12]))
}

// createTemp creates a new temporary file for base in dir, under the first of its
// names that is free.
func createTemp(dir, base string) (f *os.File, err error) {
	for _, name := range tempNames(dir, base) {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, err
}

// RemoveStale removes the temporary files for base in dir that processes killed while
// writing left behind: those whose lock it can take. It looks at the names of the
// slots only, never reading the directory, so that a save costs the same beside any
// number of files. A failure costs only disk space, so it is not reported. Where files
// cannot be locked, it removes nothing.
func RemoveStale(dir, base string) {
	for _, path := range tempNames(dir, base)[:tempSlots] {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		// Taken only if no process holds it: the writer died, or renamed the file
		// already (then the name is gone, and removing it fails).
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && lock(f, false) == nil {
			os.Remove(path)
		}
		f.Close()
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
