package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxMessages is the most messages a stored session may count: far more than any
// conversation, and few enough that a count read from a damaged row cannot make a
// reader allocate without bound.
const maxMessages = 1 << 31

// readTx returns the options of a transaction that reads one consistent state.
func (st *Store) readTx() *sql.TxOptions {
	if st.dialect.postgres {
		return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	return &sql.TxOptions{ReadOnly: true} // a SQLite transaction reads one snapshot
}

// queryIDs returns the session IDs that query, a SELECT of one column, reads.
func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// sessionRow is a session's row as read, before it is checked.
type sessionRow struct {
	header  sql.NullString
	count   sql.NullInt64
	version sql.NullString
	system  sql.NullInt64 // the leading system messages, for a partial read
}

// readRow reads the row of the session with the given ID, checking its columns. With
// system, it reads the count of leading system messages too (a migration reads rows that
// have none).
func (st *Store) readRow(ctx context.Context, q querier, id string, system bool) (sessionRow, error) {
	var r sessionRow
	filter, args := st.ownerFilter()
	columns, dest := "header, message_count, version", []any{&r.header, &r.count, &r.version}
	if system {
		columns, dest = columns+", system_count", append(dest, &r.system)
	}
	err := q.QueryRowContext(ctx, st.dialect.rebind(`SELECT `+columns+` FROM sqlstore_sessions WHERE id = ?`+filter),
		append([]any{id}, args...)...).Scan(dest...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, ErrNotFound
	case err != nil:
		return r, err
	case !r.count.Valid || r.count.Int64 < 0 || r.count.Int64 > maxMessages:
		return r, &corruptError{column: "message_count", what: fmt.Sprintf("%v is not a number of messages", nullable(r.count.Int64, r.count.Valid))}
	case !r.version.Valid:
		return r, &corruptError{column: "version", what: "NULL"}
	case system && (!r.system.Valid || r.system.Int64 < 0 || r.system.Int64 > r.count.Int64):
		return r, &corruptError{column: "system_count", what: fmt.Sprintf("%v is not a number of the %d messages", nullable(r.system.Int64, r.system.Valid), r.count.Int64)}
	}
	return r, nil
}

func nullable[T any](v T, valid bool) any {
	if !valid {
		return "NULL"
	}
	return v
}
