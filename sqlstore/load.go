package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
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
			s, err = st.read(ctx, tx, id, wholeSession, true)
			return err
		})
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlstore: load %s: %w", shortID(id), withContext(ctx, err))
	}
	return s, nil
}

// LoadRecent returns the session with the given ID with its last n messages only: a
// partial session (see session.Session.FirstIndex) whose Len, header and Digest are the
// whole session's, read in time proportional to n, however long the conversation. It is
// what a stateless server needs for a turn: Window and AddMessage work on it, and it is
// a base for Commit, which writes a turn after it as after a whole session. It cannot
// be written whole (ToJSON), and Truncate before its first message makes it a session
// Commit refuses. A negative n counts as 0: the header alone.
//
// Like Load, it checks what it read: the messages and the chain digest recorded before
// them (see session.Session.ChainDigest) must give the session's recorded version.
func (st *Store) LoadRecent(ctx context.Context, id string, n int) (session.Session, error) {
	var s session.Session
	err := ErrNotFound
	if validID(id) {
		err = st.inTx(ctx, st.readTx(), func(tx *sql.Tx) error {
			var err error
			s, err = st.read(ctx, tx, id, max(n, 0), true)
			return err
		})
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("sqlstore: load recent %s: %w", shortID(id), withContext(ctx, err))
	}
	return s, nil
}

// wholeSession is the count of recent messages of read that reads a whole session.
const wholeSession = -1

// read reads the session with the given ID in tx: whole, or, with recent >= 0, its
// last recent messages, as a partial session. With verify, its digest must be the version
// its row records, and the chain digest each message's row records that of the session
// (a migration reads rows of an older schema).
func (st *Store) read(ctx context.Context, tx *sql.Tx, id string, recent int, verify bool) (session.Session, error) {
	r, err := st.readRow(ctx, tx, id)
	if err != nil {
		return session.Session{}, err
	}
	header := r.header.String
	if !r.header.Valid || len(header) < 2 || header[0] != '{' {
		return session.Session{}, &corruptError{column: "header", what: fmt.Sprintf("%.40q is not a JSON object", header)}
	}
	count := r.count.Int64
	first := int64(0)
	if recent != wholeSession {
		first = max(count-int64(recent), 0)
	}
	// Only the rows of the places the count says, in order: the count and the digest
	// check that they are the session's messages. A partial session's first row is the one
	// before its first message, for its chain digest alone.
	from := max(first-1, 0)
	columns := "body"
	if verify {
		columns = "body, chain"
	}
	rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT `+columns+` FROM sqlstore_messages
		WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`), id, from, count)
	if err != nil {
		return session.Session{}, err
	}
	defer rows.Close()
	// The session's JSON: its messages, then the rest of its header.
	var doc bytes.Buffer
	doc.Grow(len(header) + 256*int(min(count-first, 1<<16)))
	doc.WriteString(`{"messages":[`)
	var seed digest
	var chains []digest // the chain digests the rows record
	if verify {
		chains = make([]digest, 0, min(count-first, 1<<16))
	}
	seq := from
	var body, chain sql.RawBytes
	dest := []any{&body}
	if verify {
		dest = append(dest, &chain)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return session.Session{}, err
		}
		if verify {
			if len(chain) != len(seed) {
				return session.Session{}, &corruptError{column: "sqlstore_messages.chain", what: fmt.Sprintf("of message %d is not a digest", seq)}
			}
			if seq < first {
				seed = digest(chain)
				seq++
				continue
			}
			chains = append(chains, digest(chain))
		}
		if body == nil {
			return session.Session{}, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", seq)}
		}
		if seq > first {
			doc.WriteByte(',')
		}
		doc.Write(body)
		seq++
	}
	if err := rows.Err(); err != nil {
		return session.Session{}, err
	}
	if seq != count {
		return session.Session{}, &corruptError{column: "message_count or sqlstore_messages.seq",
			what: fmt.Sprintf("counts %d messages, the store holds %d at their places", count, seq)}
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
	case int64(s.Len()) != count-first:
		return session.Session{}, &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("%d rows hold %d messages", count-first, s.Len())}
	}
	if !verify {
		return s, nil
	}
	s = s.PrecededBy(int(first), seed)
	// Computing the digest here also keeps it with the messages, so that the next
	// Commit from s digests only what it adds.
	v, err := versionOf(s)
	if err != nil {
		return session.Session{}, err
	}
	if v != r.version.String {
		return session.Session{}, &corruptError{column: "version", what: "is not the digest of the session the rows hold"}
	}
	for i, c := range chains {
		at := int(first) + i
		if want, err := s.ChainDigest(at + 1); err != nil || c != want {
			return session.Session{}, &corruptError{column: "sqlstore_messages.chain", what: fmt.Sprintf("of message %d is not the digest of the messages up to it", at)}
		}
	}
	return s, nil
}

// digest is a chain digest as session.Session.ChainDigest gives it.
type digest = [sha256.Size]byte

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
