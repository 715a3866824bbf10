package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/exllm-go/session"
)

// readTx returns the options of a transaction that reads one consistent state.
func (st *Store) readTx() *sql.TxOptions {
	if st.dialect.postgres {
		return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	return &sql.TxOptions{ReadOnly: true} // a SQLite transaction reads one snapshot
}

// Load returns the session with the given ID, whole, as it was last committed: Equal to
// the next of that Commit. It returns ErrNotFound if the store does not hold it.
func (st *Store) Load(ctx context.Context, id string) (session.Session, error) {
	var s session.Session
	err := st.inTx(ctx, st.readTx(), func(tx *sql.Tx) error {
		var header string
		var count int
		err := tx.QueryRowContext(ctx, st.dialect.rebind(`SELECT header, message_count FROM sqlstore_sessions WHERE id = ?`),
			id).Scan(&header, &count)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT body FROM sqlstore_messages WHERE session_id = ? ORDER BY seq`), id)
		if err != nil {
			return err
		}
		defer rows.Close()
		// The session's JSON: its messages, then the rest of its header.
		var doc bytes.Buffer
		doc.Grow(len(header) + 256*count)
		doc.WriteString(`{"messages":[`)
		n := 0
		var body sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&body); err != nil {
				return err
			}
			if n > 0 {
				doc.WriteByte(',')
			}
			doc.Write(body)
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != count {
			return fmt.Errorf("the store holds %d messages of the %d its session row counts", n, count)
		}
		doc.WriteString("],")
		doc.WriteString(header[1:])
		s, err = session.FromJSON(doc.Bytes())
		return err
	})
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlstore: load %s: %w", id, err)
	}
	return s, nil
}

// Messages returns the messages of the session with the given ID from index start to
// end (not included), oldest first, as Session.GetMessages would: a page of a long
// history, read in time proportional to its length. Indexes past the end are cut to it.
// It returns ErrNotFound if the store does not hold the session.
func (st *Store) Messages(ctx context.Context, id string, start, end int) ([]session.Message, error) {
	var msgs []session.Message
	err := st.inTx(ctx, st.readTx(), func(tx *sql.Tx) error {
		var count int
		err := tx.QueryRowContext(ctx, st.dialect.rebind(`SELECT message_count FROM sqlstore_sessions WHERE id = ?`), id).Scan(&count)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		start, end = max(start, 0), min(end, count)
		if start >= end {
			msgs = []session.Message{}
			return nil
		}
		rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT body FROM sqlstore_messages
			WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`), id, start, end)
		if err != nil {
			return err
		}
		defer rows.Close()
		msgs = make([]session.Message, 0, end-start)
		var body sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&body); err != nil {
				return err
			}
			var m session.Message
			if err := m.UnmarshalJSON(body); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: messages of %s: %w", id, err)
	}
	return msgs, nil
}

// Delete removes the session with the given ID and its messages. It returns ErrNotFound
// if the store does not hold it.
func (st *Store) Delete(ctx context.Context, id string) error {
	err := st.inTx(ctx, nil, func(tx *sql.Tx) error {
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
		_, err = tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_messages WHERE session_id = ?`), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", id, err)
	}
	return nil
}
