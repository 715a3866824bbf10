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
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exllm-go/session"
)

// Store keeps sessions in a SQL database. It is safe for use by many goroutines, and
// by many processes on the same database.
//
// A Store sees every session; ForOwner returns a view that sees one owner's only.
type Store struct {
	db      *sql.DB
	dialect dialect
	commits *atomic.Uint64 // commits made through this Store and its views, to checkpoint SQLite's WAL
	writers chan struct{}  // on SQLite, held by the one write transaction of this Store and its views at a time
	// walPending is set while a reset of SQLite's WAL is due and readers kept it from
	// happening; shared by the Store and its views.
	walPending *atomic.Bool
	owner      string // the owner of the sessions this view sees and creates
	scoped     bool   // whether this is an owner's view
	invalid    error  // for a view of an owner no database could hold, what every call returns

	brokenVersions func(session.Session) (string, error) // set by a test only: see versionOf
}

// ForOwner returns a view of the store for the sessions of owner (an ID of your
// application's user, tenant or key): sessions it creates belong to owner, and it sees
// only owner's sessions. Load, Info, Messages, Delete and Commit of a session of another
// owner, or of none, return [ErrNotFound], as for a session that does not exist; List
// and Prune see owner's sessions only, through an index, at a cost that does not grow
// with the sessions of other owners. The Store itself sees every session, and those it
// creates have no owner, so that no owner's view sees them.
//
// An owner is valid UTF-8 of 1 to [MaxOwnerLength] bytes with no NUL, the same on every
// database. A view of any other owner, the empty one included, fails closed: every call
// returns [ErrInvalidOwner] and reads and writes nothing. So a server that passes an
// unauthenticated request's empty user on never reaches the sessions of no owner.
//
// A view is cheap: make one per request, from the owner your authentication gives.
func (st *Store) ForOwner(owner string) *Store {
	view := *st
	view.owner, view.scoped, view.invalid = owner, true, nil
	if !validOwner(owner) {
		view.invalid = fmt.Errorf("%w %s", ErrInvalidOwner, shortID(owner))
	}
	return &view
}

// usable returns the error every call of an invalid owner's view returns, and, for a
// session ID that no database could hold, ErrNotFound.
func (st *Store) usable(id string) error {
	switch {
	case st.invalid != nil:
		return st.invalid
	case !validID(id):
		return ErrNotFound
	}
	return nil
}

// ownerFilter returns the condition on the owner column of the view, " AND owner = ?",
// and its argument, or nothing for the whole store.
func (st *Store) ownerFilter() (string, []any) {
	if !st.scoped {
		return "", nil
	}
	return " AND owner = ?", []any{st.owner}
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
		st = &Store{db: db, dialect: d, commits: new(atomic.Uint64), walPending: new(atomic.Bool)}
		if !d.postgres {
			st.writers = make(chan struct{}, 1)
		}
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

// detect asks the database of db which it is: PostgreSQL first, which would log a
// query it does not know as an error, then SQLite.
func detect(ctx context.Context, db *sql.DB) (dialect, error) {
	var version string
	perr := db.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&version)
	if perr == nil {
		return dialect{name: "PostgreSQL " + version, postgres: true}, nil
	}
	serr := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version)
	if serr == nil {
		return dialect{name: "SQLite " + version}, nil
	}
	if isBusy(serr) || ctx.Err() != nil {
		return dialect{}, serr
	}
	return dialect{}, fmt.Errorf("neither PostgreSQL (%w) nor SQLite (%w)", perr, serr)
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
//
// On SQLite, which lets one transaction write at a time, the write transactions (nil
// opts) of a Store wait for each other here, in turn, before SQLite sees them: writers
// that wait in SQLite's busy handler sleep and retry, and under load some of them wait
// out the whole busy timeout while others pass. Other processes' writers still meet
// this Store's in the busy handler.
func (st *Store) inTx(ctx context.Context, opts *sql.TxOptions, f func(tx *sql.Tx) error) error {
	if opts == nil && st.writers != nil {
		select {
		case st.writers <- struct{}{}:
			defer func() { <-st.writers }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tx, err := st.db.BeginTx(ctx, opts)
	if err != nil {
		return busy(err)
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if err := f(tx); err != nil {
		return busy(err)
	}
	committed = true
	return busy(tx.Commit())
}

// busy returns err wrapped with ErrBusy if it is SQLite's SQLITE_BUSY or
// SQLITE_LOCKED.
func busy(err error) error {
	if err != nil && isBusy(err) && !errors.Is(err, ErrBusy) {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}
