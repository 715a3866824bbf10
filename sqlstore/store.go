// Package sqlstore keeps sessions of github.com/exllm-go/session in a SQL database,
// SQLite or PostgreSQL, for chat servers with many sessions and several writers.
//
// A turn costs the same however long the conversation: Commit inserts only the
// messages a turn added, one row each, and updates the session's row. Every Commit is a
// compare-and-swap: it succeeds only if the stored session is still the one the caller
// derived its change from, so two writers never silently overwrite each other, and a
// Commit retried after a timeout writes nothing twice.
//
//	st, err := sqlstore.Open(ctx, db) // db: a *sql.DB of SQLite or PostgreSQL (pgx)
//	s := session.New("openai")
//	err = st.Commit(ctx, session.Session{}, s) // create
//	next := s.AddMessage("user", "Hello!")
//	err = st.Commit(ctx, s, next) // a turn: one row inserted
//
// The caller opens and owns the *sql.DB. For SQLite (modernc.org/sqlite, driver name
// "sqlite"), SQLiteDSN gives a DSN with the settings several writers need.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
)

var (
	// ErrNotFound is returned, wrapped, for a session the store does not hold. It
	// matches fs.ErrNotExist too, as session.LoadFromFile's error for a missing file does.
	ErrNotFound error = notFoundError{}

	// ErrConflict is returned, wrapped, by Commit when the stored session is no longer
	// the base the change was made from: another writer committed first. Load the
	// session again, redo the change on it, and commit that.
	ErrConflict = errors.New("conflict: the stored session is no longer the base of this commit")
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "no such session" }
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// Store keeps sessions in a SQL database. It is safe for use by many goroutines, and
// by many processes on the same database.
type Store struct {
	db      *sql.DB
	dialect dialect
}

// Open returns a store on db, whose database it detects (SQLite or PostgreSQL). It
// creates the store's tables (sqlstore_sessions, sqlstore_messages, sqlstore_schema) if
// they are not there, migrates them in one transaction if an older version of this
// package made them, and refuses them if a newer one did.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	d, err := detect(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	st := &Store{db: db, dialect: d}
	if err := st.migrate(ctx, len(migrations)); err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	return st, nil
}

// dialect is what differs between the databases the store runs on.
type dialect struct {
	name     string
	postgres bool
}

func detect(ctx context.Context, db *sql.DB) (dialect, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err == nil {
		return dialect{name: "SQLite " + version}, nil
	}
	err := db.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&version)
	if err != nil {
		return dialect{}, fmt.Errorf("neither SQLite nor PostgreSQL: %w", err)
	}
	return dialect{name: "PostgreSQL " + version, postgres: true}, nil
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

// SQLiteDSN returns a DSN for modernc.org/sqlite's driver ("sqlite") that opens the
// database file at path as several writers, threads or processes, need it: in WAL mode,
// waiting up to 10 seconds for another writer's lock instead of failing at once, with
// foreign keys on.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// inTx runs f in a transaction, which it commits if f succeeds and rolls back if not.
func (st *Store) inTx(ctx context.Context, opts *sql.TxOptions, f func(tx *sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
