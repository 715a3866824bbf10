package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/exllm-go/session"
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

// Load returns the session with the given ID, whole, as it was last committed: Equal to
// the next of that Commit. It returns ErrNotFound if the store does not hold it.
//
// It checks that what it read is what was committed: that the rows hold the session
// the row's ID names, with as many messages as it counts, and whose digest is the
// version recorded with it. A row changed or damaged outside the store is an error that
// names the session and the column, never a wrong session.
func (st *Store) Load(ctx context.Context, id string) (session.Session, error) {
	var s session.Session
	err := ErrNotFound
	if validID(id) {
		err = st.inTx(ctx, st.readTx(), func(tx *sql.Tx) error {
			var err error
			s, err = st.read(ctx, tx, id, true)
			return err
		})
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlstore: load %s: %w", shortID(id), withContext(ctx, err))
	}
	return s, nil
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

func (e *corruptError) Unwrap() error { return e.err }

// sessionRow is a session's row as read, before it is checked.
type sessionRow struct {
	header  sql.NullString
	count   sql.NullInt64
	version sql.NullString
}

// readRow reads the row of the session with the given ID, checking its columns.
func (st *Store) readRow(ctx context.Context, q querier, id string) (sessionRow, error) {
	var r sessionRow
	err := q.QueryRowContext(ctx, st.dialect.rebind(`SELECT header, message_count, version FROM sqlstore_sessions WHERE id = ?`),
		id).Scan(&r.header, &r.count, &r.version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return r, ErrNotFound
	case err != nil:
		return r, err
	case !r.count.Valid || r.count.Int64 < 0 || r.count.Int64 > maxMessages:
		return r, &corruptError{column: "message_count", what: fmt.Sprintf("%v is not a number of messages", nullable(r.count.Int64, r.count.Valid))}
	case !r.version.Valid:
		return r, &corruptError{column: "version", what: "NULL"}
	}
	return r, nil
}

func nullable[T any](v T, valid bool) any {
	if !valid {
		return "NULL"
	}
	return v
}

// read reads the whole session with the given ID in tx. With verify, its digest must
// be the version its row records (a migration reads versions of another kind).
func (st *Store) read(ctx context.Context, tx *sql.Tx, id string, verify bool) (session.Session, error) {
	r, err := st.readRow(ctx, tx, id)
	if err != nil {
		return session.Session{}, err
	}
	header := r.header.String
	if !r.header.Valid || len(header) < 2 || header[0] != '{' {
		return session.Session{}, &corruptError{column: "header", what: fmt.Sprintf("%.40q is not a JSON object", header)}
	}
	// Only the bodies of the places the count says, in order: the count and the digest
	// check that they are the session's messages.
	rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT body FROM sqlstore_messages
		WHERE session_id = ? AND seq >= 0 AND seq < ? ORDER BY seq`), id, r.count.Int64)
	if err != nil {
		return session.Session{}, err
	}
	defer rows.Close()
	// The session's JSON: its messages, then the rest of its header.
	var doc bytes.Buffer
	doc.Grow(len(header) + 256*int(min(r.count.Int64, 1<<16)))
	doc.WriteString(`{"messages":[`)
	var n int64
	var body sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&body); err != nil {
			return session.Session{}, err
		}
		if body == nil {
			return session.Session{}, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", n)}
		}
		if n > 0 {
			doc.WriteByte(',')
		}
		doc.Write(body)
		n++
	}
	if err := rows.Err(); err != nil {
		return session.Session{}, err
	}
	if n != r.count.Int64 {
		return session.Session{}, &corruptError{column: "message_count or sqlstore_messages.seq",
			what: fmt.Sprintf("counts %d messages, the store holds %d at their places", r.count.Int64, n)}
	}
	doc.WriteString("]")
	if header != "{}" {
		doc.WriteByte(',')
	}
	doc.WriteString(header[1:])
	s, err := session.FromJSON(doc.Bytes())
	switch {
	case err != nil:
		return session.Session{}, st.diagnose(ctx, tx, id, header, err)
	case s.ID() != id:
		return session.Session{}, &corruptError{column: "header", what: "holds session " + shortID(s.ID())}
	case int64(s.Len()) != n:
		return session.Session{}, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("%d rows hold %d messages", n, s.Len())}
	}
	if verify {
		// Computing the digest here also keeps it with the messages, so that the next
		// Commit from s digests only what it adds.
		v, err := versionOf(s)
		if err != nil {
			return session.Session{}, err
		}
		if v != r.version.String {
			return session.Session{}, &corruptError{column: "version", what: "is not the digest of the session the rows hold"}
		}
	}
	return s, nil
}

// diagnose finds which column of a session that does not decode is wrong: its header,
// or the body of a message.
func (st *Store) diagnose(ctx context.Context, tx *sql.Tx, id, header string, err error) error {
	if _, herr := session.FromJSON([]byte(header)); herr != nil {
		return &corruptError{column: "header", what: "not a session", err: herr}
	}
	if _, merr := st.messages(ctx, tx, id, 0, maxMessages); merr != nil {
		return merr
	}
	return &corruptError{column: "header or sqlstore_messages.body", what: "not a session", err: err}
}

// Messages returns the messages of the session with the given ID from index start to
// end (not included), oldest first, as Session.GetMessages would: a page of a long
// history, read in time proportional to its length. Indexes past the end are cut to it.
// It returns ErrNotFound if the store does not hold the session.
func (st *Store) Messages(ctx context.Context, id string, start, end int) ([]session.Message, error) {
	var msgs []session.Message
	err := ErrNotFound
	if validID(id) {
		err = st.inTx(ctx, st.readTx(), func(tx *sql.Tx) error {
			var err error
			msgs, err = st.messages(ctx, tx, id, start, end)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: messages of %s: %w", shortID(id), withContext(ctx, err))
	}
	return msgs, nil
}

func (st *Store) messages(ctx context.Context, tx *sql.Tx, id string, start, end int) ([]session.Message, error) {
	r, err := st.readRow(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	start, end = max(start, 0), min(end, int(r.count.Int64))
	if start >= end {
		return []session.Message{}, nil
	}
	rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT seq, body FROM sqlstore_messages
		WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`), id, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := make([]session.Message, 0, end-start)
	var seq sql.NullInt64
	var body sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, err
		}
		at := start + len(msgs)
		if !seq.Valid || seq.Int64 != int64(at) {
			return nil, &corruptError{column: "sqlstore_messages.seq", what: fmt.Sprintf("%v where message %d belongs", nullable(seq.Int64, seq.Valid), at)}
		}
		var m session.Message
		if body == nil {
			return nil, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", at)}
		}
		if err := m.UnmarshalJSON(body); err != nil {
			return nil, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d", at), err: err}
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(msgs) != end-start {
		return nil, &corruptError{column: "message_count", what: fmt.Sprintf("counts %d messages, the store holds %d", r.count.Int64, start+len(msgs))}
	}
	return msgs, nil
}

// Delete removes the session with the given ID and its messages. It returns ErrNotFound
// if the store does not hold it.
func (st *Store) Delete(ctx context.Context, id string) error {
	err := ErrNotFound
	if validID(id) {
		err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_sessions WHERE id = ?`), id)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err == nil {
					err = ErrNotFound
				}
				return err
			}
			if _, err = tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_messages WHERE session_id = ?`), id); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_versions WHERE session_id = ?`), id)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", shortID(id), withContext(ctx, err))
	}
	return nil
}
