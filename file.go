package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/exllm-go/session/internal/atomicfile"
)

// SaveToFile writes the JSON of s (see [Session.ToJSON]) to the file at path, as
// ExLLM.Session.save_to_file, so that the file holds either its old content or the new,
// whole, whenever the process or the machine stops: it writes a temporary file in the
// same directory, syncs it to disk, renames it over path and syncs the directory. On
// error the file at path is unchanged.
//
// A new file is created with mode 0600, since conversations are private. An existing
// file keeps its mode bits (setuid, setgid and sticky included) and, where the saver may
// set them (root may), its owner and group; otherwise it becomes the saver's. Since the
// file is replaced, other hard links to it keep the old content. A symbolic link at path
// is followed, even to a file that does not exist yet, which is then created; the link
// is never replaced. A path that is a directory or another kind of special file is
// refused.
//
// On Linux the temporary file has no name while it is written and synced (O_TMPFILE),
// and a name only between the moment it is whole and its rename over path. A process
// killed in that moment leaves it behind, as a hidden ".NAME.tmp-PID-..." file beside
// path: rarely when one process saves, more often when several save into one directory
// at once and wait for each other there. The next save of path removes such files of
// processes that died: a saver holds a lock on its temporary file until the rename, and
// only files whose lock is free are removed, so a live process's file never is, in
// whatever PID namespace or on whatever machine of a shared volume it runs. Elsewhere
// the temporary file has that name from the start.
func (s Session) SaveToFile(path string) error {
	data, err := s.encode()
	if err != nil {
		return fmt.Errorf("session: save %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("session: save %s: %w", path, err)
	}
	return nil
}

// DefaultMaxFileSize is the size of the largest file LoadFromFile reads, unless
// WithMaxSize sets another: 1 GiB, far above any conversation (a 10,000-message session
// takes about 3.5 MB) and below what would exhaust a server's memory.
const DefaultMaxFileSize = 1 << 30

// ErrFileTooLarge is the error LoadFromFile wraps when a file holds more than its
// maximum size.
var ErrFileTooLarge = errors.New("file too large")

// A LoadOption changes how [LoadFromFile] reads a file. Only this package makes them;
// a nil one panics (see [NewOption] for how options are named).
type LoadOption interface{ applyLoad(*loadConfig) }

type loadOption func(*loadConfig)

func (f loadOption) applyLoad(c *loadConfig) { f(c) }

type loadConfig struct {
	maxSize int64
}

// WithMaxSize makes LoadFromFile read files of at most n bytes, instead of
// DefaultMaxFileSize.
func WithMaxSize(n int64) LoadOption {
	return loadOption(func(c *loadConfig) { c.maxSize = n })
}

// LoadFromFile reads a session from the JSON file at path, written by SaveToFile or by
// ExLLM, as ExLLM.Session.load_from_file.
//
// It reads at most DefaultMaxFileSize bytes, or what WithMaxSize sets, and fails with an
// error wrapping ErrFileTooLarge beyond that, before reading more: from a regular file
// that is too large it reads nothing. Besides regular files it reads named pipes and
// devices, such as /dev/stdin or the /dev/fd/N of a shell's process substitution; it
// waits for a pipe's writer, as reading a pipe does.
//
// Errors are those of FromJSON, with the path, or of reading the file: a missing file
// satisfies errors.Is(err, fs.ErrNotExist).
func LoadFromFile(path string, opts ...LoadOption) (Session, error) {
	cfg := loadConfig{maxSize: DefaultMaxFileSize}
	for _, opt := range opts {
		if opt == nil {
			panic("session: a nil LoadOption")
		}
		opt.applyLoad(&cfg)
	}
	data, err := readFile(path, cfg.maxSize)
	if err != nil {
		return Session{}, fmt.Errorf("session: load: %w", err) // a *fs.PathError names path
	}
	s, err := decodeSession(data)
	if err != nil {
		return Session{}, fmt.Errorf("session: load %s: %w", path, err)
	}
	return s, nil
}

// readFile reads the file at path, failing if it holds more than maxSize bytes.
func readFile(path string, maxSize int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := &fs.PathError{Op: "read", Path: path,
		Err: fmt.Errorf("%w: more than %d bytes (WithMaxSize sets the limit)", ErrFileTooLarge, maxSize)}
	var buf bytes.Buffer
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
		if info.Size() > maxSize {
			return nil, tooLarge
		}
		buf.Grow(int(info.Size()) + bytes.MinRead)
	}
	limit := maxSize
	if limit < math.MaxInt64 {
		limit++ // one byte more than allowed tells a file that is too large
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, limit)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(buf.Len()) > maxSize {
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}
