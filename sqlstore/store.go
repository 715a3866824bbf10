// Package sqlstore keeps sessions of github.com/exllm-go/session in a SQL database,
// SQLite or PostgreSQL, for chat servers with many sessions and several writers.
//
// A turn costs the same however long the conversation: Commit inserts only the
// messages a turn added, one row each, and updates the session's row. Every Commit is an
// exact compare-and-swap: it succeeds only if the store holds exactly the session the
// caller derived its change from (its session.Digest, which covers every byte the
// session's JSON holds), so two writers never silently overwrite each other, whatever
// their clocks or the bytes they write, and a Commit retried after a timeout writes
// nothing twice.
//
//	st, err := sqlstore.Open(ctx, db) // db: a *sql.DB of SQLite or PostgreSQL (pgx)
//	s := session.New("openai")
//	err = st.Commit(ctx, session.Session{}, s) // create
//	next := s.AddMessage("user", "Hello!")
//	err = st.Commit(ctx, s, next) // a turn: one row inserted
//
// The caller opens and owns the *sql.DB. For SQLite (modernc.org/sqlite, driver name
// "sqlite"), SQLiteDSN gives a DSN with the settings several writers and durable
// commits need.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
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

	// ErrBadCursor is returned, wrapped, by List for a ListOptions.After that
	// Info.Cursor did not make.
	ErrBadCursor = errors.New("not a cursor of Info.Cursor")
)

// MaxIDLength is the length in bytes of the longest session ID the store holds; an ID
// of session.New is 36 bytes. PostgreSQL refuses index entries much longer.
const MaxIDLength = 512

type notFoundError struct{}

func (notFoundError) Error() string        { return "no such session" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// validID reports whether both databases can hold id as a session's ID.
func validID(id string) bool {
	return id != "" && len(id) <= MaxIDLength && utf8.ValidString(id) && !strings.Contains(id, "\x00")
}

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

// Store keeps sessions in a SQL database. It is safe for use by many goroutines, and
// by many processes on the same database.
type Store struct {
	db      *sql.DB
	dialect dialect
	commits atomic.Uint64 // commits made through this Store, to checkpoint SQLite's WAL
}

// Open returns a store on db, whose database it detects (SQLite or PostgreSQL). When
// the schema is current it only reads it, so that a role allowed only SELECT, INSERT,
// UPDATE and DELETE can open the store. Otherwise it creates the store's tables
// (sqlstore_sessions, sqlstore_messages, sqlstore_versions, sqlstore_schema), or
// migrates them if an older version of this package made them, in one transaction that
// one process at a time runs; it refuses a schema that a newer version made.
//
// Open retries while SQLite reports the database busy (many processes opening a new
// file at once), until ctx ends.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	st, err := open(ctx, db, len(migrations))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", withContext(ctx, err))
	}
	return st, nil
}

func open(ctx context.Context, db *sql.DB, target int) (*Store, error) {
	var st *Store
	err := retryBusy(ctx, func() error {
		d, err := detect(ctx, db)
		if err != nil {
			return err
		}
		st = &Store{db: db, dialect: d}
		return st.migrate(ctx, target)
	})
	return st, err
}

// retryBusy runs f again while it fails because SQLite is busy, with a growing pause,
// until ctx ends or a minute has passed.
func retryBusy(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	pause := time.Millisecond
	for {
		err := f()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return false
}

// dialect is what differs between the databases the store runs on.
type dialect struct {
	name     string
	postgres bool
}

// detect tells the database of db by its driver where it knows the driver, and asks
// the database otherwise.
func detect(ctx context.Context, db *sql.DB) (dialect, error) {
	driver := reflect.TypeOf(db.Driver())
	for driver.Kind() == reflect.Pointer {
		driver = driver.Elem()
	}
	pkg := driver.PkgPath()
	var version string
	switch {
	case strings.Contains(pkg, "sqlite"):
		err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version)
		return dialect{name: "SQLite " + version}, err
	case strings.Contains(pkg, "pgx"), strings.Contains(pkg, "lib/pq"):
		err := db.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&version)
		return dialect{name: "PostgreSQL " + version, postgres: true}, err
	}
	serr := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version)
	if serr == nil {
		return dialect{name: "SQLite " + version}, nil
	}
	perr := db.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&version)
	if perr == nil {
		return dialect{name: "PostgreSQL " + version, postgres: true}, nil
	}
	return dialect{}, fmt.Errorf("driver %s: neither SQLite (%w) nor PostgreSQL (%w)", pkg, serr, perr)
}

// Dialect names the database the store detected, with its version: "SQLite 3.50.4",
// "PostgreSQL 15.18".
func (st *Store) Dialect() string { return st.dialect.name }

// rebind writes the ? placeholders of query as the database wants them: $1, $2, ... for
// PostgreSQL.
func (d dialect) rebind(query string) string {
	if !d.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// inTx runs f in a transaction, which it commits if f succeeds and rolls back on every
// other way out, a panic included.
func (st *Store) inTx(ctx context.Context, opts *sql.TxOptions, f func(tx *sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if err := f(tx); err != nil {
		return err
	}
	committed = true
	return tx.Commit()
}

// withContext returns err so that it matches ctx.Err() when ctx has ended: a call cut
// by its context fails with whatever the driver says (sql.ErrTxDone, a broken
// connection), which a server must be able to tell from a failure of the database.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}
