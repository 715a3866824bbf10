package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are the versions of the store's schema: migrations[i] takes it from
// version i to version i+1. A database records its version in sqlstore_schema.
var migrations = []func(d dialect) []string{
	// 1: sessions, and their messages, a row each.
	func(d dialect) []string {
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
	},
	// 2: an index to list sessions newest first, a page at a time.
	func(dialect) []string {
		return []string{`CREATE INDEX sqlstore_sessions_by_update ON sqlstore_sessions (updated_us DESC, id DESC)`}
	},
}

// migrationLock is the PostgreSQL advisory lock that one Open at a time holds while it
// creates or migrates the schema.
const migrationLock = 0x5e55_1075

// migrate brings the schema to version target, in one transaction.
func (st *Store) migrate(ctx context.Context, target int) error {
	return st.inTx(ctx, nil, func(tx *sql.Tx) error {
		if st.dialect.postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS sqlstore_schema (version INTEGER NOT NULL)"); err != nil {
			return err
		}
		var version int
		err := tx.QueryRowContext(ctx, "SELECT version FROM sqlstore_schema").Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.ExecContext(ctx, "INSERT INTO sqlstore_schema (version) VALUES (0)")
		}
		if err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("the schema is version %d, newer than this package knows (%d): use a newer github.com/exllm-go/session/sqlstore", version, len(migrations))
		}
		for v := version; v < target; v++ {
			for _, stmt := range migrations[v](st.dialect) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
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
