//go:build unix

package atomicfile_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session/internal/atomicfile"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, atomicfile.WriteFile(path, []byte("one")))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), "new files are private")

	require.NoError(t, os.Chmod(path, 0o640|fs.ModeSetgid))
	require.NoError(t, atomicfile.WriteFile(path, []byte("two")))
	info, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, 0o640|fs.ModeSetgid, info.Mode()&(fs.ModePerm|fs.ModeSetgid), "modes are kept")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(data))

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink("f", link))
	require.NoError(t, atomicfile.WriteFile(link, []byte("three")))
	target, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, "f", target, "the link stays a link")
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "three", string(data))
	assert.Equal(t, []string{"f", "link"}, names(t, dir), "no temporary file left")

	assert.ErrorContains(t, atomicfile.WriteFile(dir, []byte("x")), "is a directory")
	fifo := filepath.Join(dir, "pipe")
	if syscall.Mkfifo(fifo, 0o600) == nil {
		assert.ErrorContains(t, atomicfile.WriteFile(fifo, []byte("x")), "not a regular file")
	}
	assert.Error(t, atomicfile.WriteFile(filepath.Join(dir, "missing", "f"), []byte("x")))
}

// TestStaleTemporaryFiles checks that a write removes the temporary files of writers
// that died, and never one whose writer still holds its lock, whatever its name says:
// a live process in another PID namespace, or on another machine of a shared volume,
// may have a PID that is not running here.
func TestStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chat.json")
	live := filepath.Join(dir, atomicfile.TempPrefix("chat.json")+"0")
	dead := filepath.Join(dir, atomicfile.TempPrefix("chat.json")+"3")
	other := filepath.Join(dir, atomicfile.TempPrefix("other.json")+"1")
	for _, p := range []string{live, dead, other} {
		require.NoError(t, os.WriteFile(p, []byte("partial"), 0o600))
	}
	f, err := os.Open(live)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))

	require.NoError(t, atomicfile.WriteFile(path, []byte("x")))
	assert.FileExists(t, live, "a live writer's file")
	assert.NoFileExists(t, dead)
	assert.FileExists(t, other, "another file's")

	f.Close() // the writer dies
	require.NoError(t, atomicfile.WriteFile(path, []byte("y")))
	assert.NoFileExists(t, live)
	assert.Equal(t, []string{filepath.Base(other), "chat.json"}, names(t, dir))
}

// BenchmarkWriteFileBeside writes a file in an empty directory and beside 20,000
// others: a save costs the same whatever its neighbours (ratio in docs/PERFORMANCE.md).
func BenchmarkWriteFileBeside(b *testing.B) {
	data := []byte(`{"id":"x","messages":[]}`)
	for _, neighbours := range []int{20000, 0} {
		b.Run(fmt.Sprint(neighbours, "-files"), func(b *testing.B) {
			dir := b.TempDir()
			for i := range neighbours {
				require.NoError(b, os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), nil, 0o600))
			}
			path := filepath.Join(dir, "chat.json")
			for b.Loop() {
				if err := atomicfile.WriteFile(path, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
