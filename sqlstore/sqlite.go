package sqlstore

import (
	"context"
	"database/sql/driver"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// SQLiteDSN returns a DSN for modernc.org/sqlite's driver ("sqlite") that opens the
// database file at path, whatever characters it holds (?, #, %, spaces, non-ASCII), as
// several writers, threads or processes, need it: in WAL mode, waiting up to 10 seconds
// for another writer's lock instead of failing at once, with foreign keys on.
//
// It makes commits durable: with synchronous=FULL, a Commit that returned nil survives
// a power loss, not only a crash of the process (with NORMAL, the last commits before a
// power loss may be lost). It keeps the WAL file from growing: journal_size_limit
// truncates it to 64 MiB at most when it is reset, and the Store resets it now and then
// (see Commit).
//
// SQLite creates a new database file with the process's umask, 0644 as a rule; its WAL
// and shared-memory files take the database file's mode. Create the file first, with
// os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600), to keep conversations private.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	if strings.HasPrefix(path, "//") {
		path = filepath.Clean(path) // not a URI's authority
	}
	// SQLite reads the DSN as a URI: its path is percent-encoded, so that ? and # are
	// part of the name and % is not an escape.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

const (
	// checkpointEvery is how many commits of a Store go between two looks at the size
	// of a SQLite database's WAL.
	checkpointEvery = 64
	// walResetFrames is the size of the WAL, in pages, past which the Store resets it.
	walResetFrames = 2048
	// checkpointWaitMS is how long a reset waits for readers, holding up writers: short,
	// since a reset that cannot happen now happens at a later look.
	checkpointWaitMS = 50
)

// maybeCheckpoint resets a SQLite database's WAL now and then. SQLite's automatic
// checkpoints copy the WAL into the database but cannot start the WAL again from its
// beginning while readers overlap without pause, as the readers and writers of a busy
// server do: the file then grows without end. A RESTART checkpoint waits for the
// readers of the moment to finish, so that the next writer starts the WAL over; it waits
// checkpointWaitMS at most, since it holds up the writers meanwhile.
//
// A reset that readers kept from completing is tried again at the next commit, not
// checkpointEvery commits later, so that the WAL does not grow on while readers are slow.
func (st *Store) maybeCheckpoint(ctx context.Context) {
	if st.dialect.postgres || st.commits.Add(1)%checkpointEvery != 0 && !st.walPending.Load() {
		return
	}
	conn, err := st.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var busy, frames, done int
	if conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done) != nil || frames < walResetFrames {
		st.walPending.Store(false)
		return // not in WAL mode (frames is -1), or small enough
	}
	var timeout int
	if conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout) != nil {
		return
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(checkpointWaitMS)); err != nil {
		return
	}
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &done)
	st.walPending.Store(err != nil || busy != 0)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = "+strconv.Itoa(timeout)); err != nil {
		// A connection that would keep the short timeout is not given back to the pool.
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}
