package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/exllm-go/session"
)

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
