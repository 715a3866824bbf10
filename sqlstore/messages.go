package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/exllm-go/session"
)

// Messages returns the messages of the session with the given ID from index start to
// end (not included), oldest first, as Session.GetMessages would: a page of a long
// history, read in time proportional to its length. Indexes past the end are cut to it.
// It returns ErrNotFound if the store does not hold the session.
func (st *Store) Messages(ctx context.Context, id string, start, end int) ([]session.Message, error) {
	var msgs []session.Message
	err := st.usable(id)
	if err == nil {
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
	r, err := st.readRow(ctx, tx, id, false)
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
	// The count is a stored number: the rows, as they are read, size the slice.
	msgs := make([]session.Message, 0, min(end-start, 256))
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
