//go:build unix

package session_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

func TestLoadFromFileLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chat.json")
	s := session.New("openai").AddMessage("user", "Hello!")
	require.NoError(t, s.SaveToFile(path))
	info, err := os.Stat(path)
	require.NoError(t, err)

	_, err = session.LoadFromFile(path, session.WithMaxSize(info.Size()))
	assert.NoError(t, err, "exactly the limit loads")
	_, err = session.LoadFromFile(path, session.WithMaxSize(info.Size()-1))
	assert.ErrorIs(t, err, session.ErrFileTooLarge)
	assert.ErrorContains(t, err, path)
	assert.ErrorContains(t, err, "WithMaxSize")

	for _, device := range []string{"/dev/zero", "/dev/urandom"} {
		if _, err := os.Stat(device); err != nil {
			continue
		}
		_, err := session.LoadFromFile(device, session.WithMaxSize(1<<20))
		assert.ErrorIs(t, err, session.ErrFileTooLarge, device)
	}
}

func TestLoadFromFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	data := must(session.New("openai").AddMessage("user", "piped").ToJSON())
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		f.Write(data)
	}()
	s, err := session.LoadFromFile(fifo)
	require.NoError(t, err, "a pipe is read once its writer comes")
	assert.Equal(t, "piped", s.GetMessages(1)[0].Content)

	// An endless writer: the limit ends the read.
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				return
			}
		}
	}()
	_, err = session.LoadFromFile(fifo, session.WithMaxSize(1<<20))
	assert.ErrorIs(t, err, session.ErrFileTooLarge)
}

func TestSaveThroughSymbolicLinks(t *testing.T) {
	dir := t.TempDir()
	s := session.New("openai").AddMessage("user", "Hello!")

	// A dangling link: its target is created, the link stays a link.
	dangling := filepath.Join(dir, "dang.json")
	require.NoError(t, os.Symlink("nonexist.json", dangling))
	require.NoError(t, s.SaveToFile(dangling))
	target, err := os.Readlink(dangling)
	require.NoError(t, err)
	assert.Equal(t, "nonexist.json", target)
	loaded, err := session.LoadFromFile(filepath.Join(dir, "nonexist.json"))
	require.NoError(t, err)
	assert.True(t, loaded.Equal(s))

	// A chain of links, one absolute, into another directory.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	require.NoError(t, os.Symlink(filepath.Join(dir, "sub", "last.json"), filepath.Join(dir, "middle.json")))
	require.NoError(t, os.Symlink("middle.json", filepath.Join(dir, "first.json")))
	require.NoError(t, s.SaveToFile(filepath.Join(dir, "first.json")))
	_, err = session.LoadFromFile(filepath.Join(dir, "sub", "last.json"))
	assert.NoError(t, err)

	// A link into a directory that does not exist: an error, and the link is kept.
	missing := filepath.Join(dir, "missing.json")
	require.NoError(t, os.Symlink("nowhere/chat.json", missing))
	err = s.SaveToFile(missing)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	info, err := os.Lstat(missing)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, info.Mode().Type())

	// A loop of links.
	require.NoError(t, os.Symlink("loop2.json", filepath.Join(dir, "loop1.json")))
	require.NoError(t, os.Symlink("loop1.json", filepath.Join(dir, "loop2.json")))
	assert.ErrorContains(t, s.SaveToFile(filepath.Join(dir, "loop1.json")), "symbolic links")
}

func TestSaveKeepsModeAndOwner(t *testing.T) {
	dir := t.TempDir()
	s := session.New("openai").AddMessage("user", "Hello!")
	path := filepath.Join(dir, "chat.json")
	require.NoError(t, s.SaveToFile(path))

	require.NoError(t, os.Chmod(path, fs.ModeSetuid|fs.ModeSetgid|0o750))
	require.NoError(t, s.SaveToFile(path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSetuid|fs.ModeSetgid|0o750, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))

	// A hard link keeps the old content: the path gets a new file.
	other := filepath.Join(dir, "other.json")
	require.NoError(t, os.Link(path, other))
	require.NoError(t, s.AddMessage("user", "more").SaveToFile(path))
	old, err := session.LoadFromFile(other)
	require.NoError(t, err)
	assert.Equal(t, 1, old.Len())

	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	require.NoError(t, os.Chown(path, 1000, 1000))
	require.NoError(t, s.SaveToFile(path))
	info, err = os.Stat(path)
	require.NoError(t, err)
	st := info.Sys().(*syscall.Stat_t)
	assert.Equal(t, [2]uint32{1000, 1000}, [2]uint32{st.Uid, st.Gid}, "root keeps the owner")
}

func TestSaveRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	err := session.New("").SaveToFile(fifo)
	assert.ErrorContains(t, err, "not a regular file")
	info, err := os.Lstat(fifo)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeNamedPipe, info.Mode().Type())
	assert.False(t, errors.Is(err, fs.ErrNotExist))
}
