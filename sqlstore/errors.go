package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	// ErrNotFound is returned, wrapped, for a session the store does not hold, and for
	// an ID that no database could hold (see ErrInvalidID). It matches fs.ErrNotExist
	// too, as session.LoadFromFile's error for a missing file does.
	ErrNotFound error = notFoundError{}

	// ErrConflict is returned, wrapped, by Commit when the store no longer holds the
	// base the change was made from, nor already holds or held the change: another
	// writer committed first. Load the session again, redo the change on it, and commit
	// that.
	ErrConflict = errors.New("conflict: the stored session is no longer the base of this commit")

	// ErrInvalidID is returned, wrapped, by Commit for a session whose ID no database
	// could hold: one that is not UTF-8, holds a NUL or is longer than MaxIDLength
	// bytes. Load, Messages and Delete return ErrNotFound for such an ID.
	ErrInvalidID = errors.New("invalid session ID")

	// ErrInvalidOwner is returned, wrapped, by every call of a view that
	// [Store.ForOwner] made for an owner no database could hold: "", text that is not
	// UTF-8, holds a NUL or is longer than [MaxOwnerLength] bytes.
	ErrInvalidOwner = errors.New("invalid owner")

	// ErrCorrupt is returned, wrapped, for a row that does not hold what the store wrote:
	// changed or damaged outside the store. The error names the session and the column.
	ErrCorrupt = errors.New("corrupt row")

	// ErrBusy is returned, wrapped, when the database stayed busy for longer than
	// it waits (SQLite's SQLITE_BUSY, after the busy timeout of SQLiteDSN): nothing
	// was written. Try again later; a server answers 503 with Retry-After.
	ErrBusy = errors.New("database busy")

	// ErrBadCursor is returned, wrapped, by List for a ListOptions.After that
	// Info.Cursor did not make.
	ErrBadCursor = errors.New("not a cursor of Info.Cursor")
)

// MaxIDLength is the length in bytes of the longest session ID the store holds; an ID
// of session.New is 36 bytes. PostgreSQL refuses index entries much longer.
const MaxIDLength = 512

// MaxOwnerLength is the length in bytes of the longest owner [Store.ForOwner] takes.
const MaxOwnerLength = 512

type notFoundError struct{}

func (notFoundError) Error() string        { return "no such session" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// validID reports whether both databases can hold id as a session's ID.
func validID(id string) bool {
	return id != "" && len(id) <= MaxIDLength && utf8.ValidString(id) && !strings.Contains(id, "\x00")
}

// validOwner reports whether both databases can hold owner as a session's owner.
func validOwner(owner string) bool { return validID(owner) && len(owner) <= MaxOwnerLength }

// shortID returns id as error messages name it: quoted where it is not plain, and cut
// to a readable length.
func shortID(id string) string {
	const most = 64
	if len(id) > most {
		return strconv.Quote(strings.ToValidUTF8(id[:most], "")) + fmt.Sprintf("... (%d bytes)", len(id))
	}
	if !validID(id) || strings.ContainsAny(id, " \"\\") {
		return strconv.Quote(id)
	}
	return id
}

// corruptError reports a row that does not hold what the store writes.
type corruptError struct {
	column string
	what   string
	err    error
}

func (e *corruptError) Error() string {
	msg := "column " + e.column + ": " + e.what
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg + " (the row was changed or damaged outside the store)"
}

// Is reports whether target is ErrCorrupt.
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func (e *corruptError) Unwrap() error { return e.err }

// withContext returns err so that it matches ctx.Err() when ctx has ended: a call cut
// by its context fails with whatever the driver says (sql.ErrTxDone, a broken
// connection), which a server must be able to tell from a failure of the database.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}
