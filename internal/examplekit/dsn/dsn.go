// Package dsn opens the store that a command-line flag names: "sqlite:PATH" or a
// postgres:// URL, for the chat and the server examples.
package dsn

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, for postgres://...
	_ "modernc.org/sqlite"             // SQLite, for sqlite:PATH

	"github.com/exllm-go/session/sqlstore"
)

// Open opens the database that dsn names, "sqlite:PATH" or a postgres:// URL, and the
// store on it. A SQLite file that does not exist is created readable by its owner only.
// The caller closes the *sql.DB.
func Open(ctx context.Context, dsn string) (*sql.DB, *sqlstore.Store, error) {
	var db *sql.DB
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		// Created private, before SQLite would create it with the umask's mode; its WAL
		// takes its mode.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("%q: %w", dsn, err)
		}
		f.Close()
		db, err = sql.Open("sqlite", sqlstore.SQLiteDSN(path))
		if err != nil {
			return nil, nil, err
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if db, err = sql.Open("pgx", dsn); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("%q: give sqlite:PATH or a postgres:// URL", dsn)
	}
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, st, nil
}
