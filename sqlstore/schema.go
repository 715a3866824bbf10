package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/exllm-go/session/storage"
)

// A migration takes the schema from one version to the next: its statements, then, if
// it has one, a step in Go, in the same transaction.
type migration struct {
	statements func(d dialect) []string
	step       func(ctx context.Context, st *Store, tx *sql.Tx) error
}

// migrations are the versions of the store's schema: migrations[i] takes it from
// version i to version i+1. A database records its version in sqlstore_schema.
var migrations = []migration{
	// 1: sessions, and their messages, a row each.
	{statements: func(d dialect) []string {
		clustered := " WITHOUT ROWID" // SQLite keeps a session's messages together by key
		if d.postgres {
			clustered = ""
		}
		return []string{
			`CREATE TABLE sqlstore_sessions (
				id TEXT PRIMARY KEY,
				name TEXT NOT NULL,
				backend TEXT NOT NULL,
				created_us BIGINT NOT NULL,
				updated_us BIGINT NOT NULL,
				message_count BIGINT NOT NULL,
				input_tokens BIGINT NOT NULL,
				output_tokens BIGINT NOT NULL,
				cache_read_tokens BIGINT NOT NULL,
				cache_write_tokens BIGINT NOT NULL,
				reasoning_tokens BIGINT NOT NULL,
				version TEXT NOT NULL,
				header TEXT NOT NULL
			)`,
			`CREATE TABLE sqlstore_messages (
				session_id TEXT NOT NULL,
				seq BIGINT NOT NULL,
				body TEXT NOT NULL,
				PRIMARY KEY (session_id, seq)
			)` + clustered,
		}
	}},
	// 2: an index to list sessions newest first, a page at a time.
	{statements: func(dialect) []string {
		return []string{`CREATE INDEX sqlstore_sessions_by_update ON sqlstore_sessions (updated_us DESC, id DESC)`}
	}},
	// 3: exact versions. A session's version becomes its session.Digest, which covers
	// the whole session, computed again for every stored session; sqlstore_versions
	// records the last versions each session held, so that a retried commit is known
	// to have been made exactly; a session's revision counts its commits. On SQLite, the
	// messages move to a table with row IDs: in a WITHOUT ROWID table a row is stored in
	// its key's b-tree page, so that inserting beside a large message reads it whole.
	{statements: func(d dialect) []string {
		stmts := []string{
			`ALTER TABLE sqlstore_sessions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0`,
			`CREATE TABLE sqlstore_versions (
				session_id TEXT NOT NULL,
				revision BIGINT NOT NULL,
				version TEXT NOT NULL,
				PRIMARY KEY (session_id, revision)
			)`,
		}
		if !d.postgres {
			stmts = append(stmts,
				`CREATE TABLE sqlstore_messages_3 (
					session_id TEXT NOT NULL,
					seq BIGINT NOT NULL,
					body TEXT NOT NULL,
					PRIMARY KEY (session_id, seq)
				)`,
				`INSERT INTO sqlstore_messages_3 (session_id, seq, body) SELECT session_id, seq, body FROM sqlstore_messages`,
				`DROP TABLE sqlstore_messages`,
				`ALTER TABLE sqlstore_messages_3 RENAME TO sqlstore_messages`)
		}
		return stmts
	}, step: recomputeVersions},
	// 4: owners, and an index to list an owner's sessions a page at a time.
	{statements: func(dialect) []string {
		return []string{
			`ALTER TABLE sqlstore_sessions ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,
			`CREATE INDEX sqlstore_sessions_by_owner ON sqlstore_sessions (owner, updated_us DESC, id DESC)`,
		}
	}},
	// 5: each message's row records the prefix of the session through it (see
	// session.Prefix): the chain digest, so that LoadRecent can read the last messages
	// alone and still prove them against the session's version, and the estimated tokens,
	// on which the windows of session.StablePrefix restart; and a session's row counts its
	// leading system messages, which LoadRecent reads besides the last messages.
	{statements: func(d dialect) []string {
		blob := "BLOB"
		if d.postgres {
			blob = "BYTEA"
		}
		return []string{
			`ALTER TABLE sqlstore_messages ADD COLUMN chain ` + blob,
			`ALTER TABLE sqlstore_messages ADD COLUMN tokens BIGINT`,
			`ALTER TABLE sqlstore_sessions ADD COLUMN system_count BIGINT NOT NULL DEFAULT 0`,
		}
	}, step: recordPrefixes},
	// 6: a session's version covers the tokens its messages are estimated at, which
	// LoadRecent reads from the row before the messages it reads (see digestVersion):
	// the tokens the last message's row records, as migration 5 computed them.
	{statements: func(dialect) []string {
		return []string{`UPDATE sqlstore_sessions SET version = version || '.' || CAST(COALESCE(
			(SELECT m.tokens FROM sqlstore_messages m WHERE m.session_id = sqlstore_sessions.id AND m.seq = sqlstore_sessions.message_count - 1),
			0) AS TEXT) WHERE version NOT LIKE '%.%'`}
	}},
}

// recordPrefixes records the prefix through every stored message, and counts the
// leading system messages of every stored session.
func recordPrefixes(ctx context.Context, st *Store, tx *sql.Tx) error {
	ids, err := queryIDs(ctx, tx, `SELECT id FROM sqlstore_sessions`)
	if err != nil {
		return err
	}
	update := st.dialect.rebind(`UPDATE sqlstore_messages SET chain = ?, tokens = ? WHERE session_id = ? AND seq = ?`)
	for _, id := range ids {
		s, err := st.read(ctx, tx, id, wholeSession, raw)
		if err != nil {
			return fmt.Errorf("session %s: %w", shortID(id), err)
		}
		for seq := range s.Len() {
			p, err := storage.PrefixAt(s, seq+1)
			if err != nil {
				return fmt.Errorf("session %s: %w", shortID(id), err)
			}
			if _, err := tx.ExecContext(ctx, update, p.Chain[:], p.Tokens, id, seq); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, st.dialect.rebind(`UPDATE sqlstore_sessions SET system_count = ? WHERE id = ?`),
			leadingSystem(s), id); err != nil {
			return err
		}
	}
	return nil
}

// recomputeVersions sets the version of every stored session to its digest, and
// records it as the session's revision 0.
func recomputeVersions(ctx context.Context, st *Store, tx *sql.Tx) error {
	ids, err := queryIDs(ctx, tx, `SELECT id FROM sqlstore_sessions`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s, err := st.read(ctx, tx, id, wholeSession, raw)
		if err != nil {
			return fmt.Errorf("session %s: %w", shortID(id), err)
		}
		v, err := st.versionOf(s)
		if err != nil {
			return fmt.Errorf("session %s: %w", shortID(id), err)
		}
		if _, err := tx.ExecContext(ctx, st.dialect.rebind(`UPDATE sqlstore_sessions SET version = ? WHERE id = ?`), v, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, st.dialect.rebind(`INSERT INTO sqlstore_versions (session_id, revision, version) VALUES (?, 0, ?)`), id, v); err != nil {
			return err
		}
	}
	return nil
}

// migrationLock is the PostgreSQL advisory lock that one Open at a time holds while it
// creates or migrates the schema.
const migrationLock = 0x5e55_1075

// migrate brings the schema to version target. It only reads when the schema is at
// target already; otherwise it creates or migrates it in one transaction.
func (st *Store) migrate(ctx context.Context, target int) error {
	if version, ok, err := st.schemaVersion(ctx, st.db); err != nil {
		return err
	} else if ok && version == target {
		return nil
	}
	return st.inTx(ctx, nil, func(tx *sql.Tx) error {
		if st.dialect.postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS sqlstore_schema (version INTEGER NOT NULL)"); err != nil {
			return err
		}
		version, ok, err := st.schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if !ok {
			if _, err = tx.ExecContext(ctx, "INSERT INTO sqlstore_schema (version) VALUES (0)"); err != nil {
				return err
			}
		}
		for v := version; v < target; v++ {
			for _, stmt := range migrations[v].statements(st.dialect) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migrating to version %d: %w", v+1, err)
				}
			}
			if step := migrations[v].step; step != nil {
				if err := step(ctx, st, tx); err != nil {
					return fmt.Errorf("migrating to version %d: %w", v+1, err)
				}
			}
		}
		if version < target {
			_, err = tx.ExecContext(ctx, st.dialect.rebind("UPDATE sqlstore_schema SET version = ?"), target)
		}
		return err
	})
}

// querier is what a *sql.DB and a *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads the version of the schema, and whether there is one: false when
// sqlstore_schema does not exist or holds no row. A version this package does not know
// is an error.
func (st *Store) schemaVersion(ctx context.Context, q querier) (version int, ok bool, err error) {
	exists := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlstore_schema'"
	if st.dialect.postgres {
		exists = "SELECT count(*) FROM (SELECT to_regclass('sqlstore_schema') AS t) r WHERE t IS NOT NULL"
	}
	var tables int
	if err := q.QueryRowContext(ctx, exists).Scan(&tables); err != nil {
		return 0, false, err
	}
	if tables == 0 {
		return 0, false, nil
	}
	var rows int
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT count(*), max(version) FROM sqlstore_schema").Scan(&rows, &v); err != nil {
		return 0, false, err
	}
	switch {
	case rows == 0:
		return 0, false, nil
	case rows > 1:
		return 0, false, fmt.Errorf("sqlstore_schema holds %d rows, not one", rows)
	case !v.Valid || v.Int64 < 0:
		return 0, false, fmt.Errorf("sqlstore_schema holds version %v, not a version", v.Int64)
	case v.Int64 > int64(len(migrations)):
		return 0, false, fmt.Errorf("the schema is version %d, newer than this package knows (%d): use a newer github.com/exllm-go/session/sqlstore", v.Int64, len(migrations))
	}
	return int(v.Int64), true, nil
}
