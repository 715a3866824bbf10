package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math"

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
// them (see session.Prefix) must give the session's recorded version.
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
// its row records, and, read whole, the prefix each message's row records must be the
// session's (a migration reads rows of an older schema, and verifies nothing).
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
	// The session's JSON: its messages, then the rest of its header. A partial session's
	// first row is the one before its first message, for its prefix alone.
	var doc bytes.Buffer
	doc.Grow(len(header) + 256*int(min(count-first, 1<<16)))
	doc.WriteString(`{"messages":[`)
	seed := session.Prefix{Len: int(first)}
	var recorded []session.Prefix // the prefixes the rows record, read whole
	if verify && first == 0 {
		recorded = make([]session.Prefix, 0, min(count, 1<<16))
	}
	err = st.scanMessages(ctx, tx, id, max(first-1, 0), count, verify, first-1, func(seq int64, body []byte, p *session.Prefix) error {
		if verify && (seq < first || first == 0) {
			if p == nil {
				return &corruptError{column: "sqlstore_messages.chain or tokens", what: fmt.Sprintf("of message %d is not a prefix's", seq)}
			}
			if seq < first {
				seed.Chain, seed.Tokens = p.Chain, p.Tokens
				return nil
			}
			recorded = append(recorded, *p)
		}
		if body == nil {
			return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", seq)}
		}
		if seq > first {
			doc.WriteByte(',')
		}
		doc.Write(body)
		return nil
	})
	if err != nil {
		return session.Session{}, err
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
	s = s.PrecededBy(seed)
	// Computing the digest here also keeps it with the messages, so that the next
	// Commit from s digests only what it adds.
	v, err := versionOf(s)
	if err != nil {
		return session.Session{}, err
	}
	if v != r.version.String {
		return session.Session{}, &corruptError{column: "version", what: "is not the digest of the session the rows hold"}
	}
	// A whole read checks the prefix each row records, on which a partial read relies.
	for i, p := range recorded {
		if want, err := s.PrefixAt(i + 1); err != nil || p != want {
			return session.Session{}, &corruptError{column: "sqlstore_messages.chain or tokens", what: fmt.Sprintf("of message %d is not the prefix up to it", i)}
		}
	}
	return s, nil
}

// scanMessages calls emit with the seq and body of the rows of the messages of the
// session with the given ID from seq from to count (not included), in order, checking
// that each is at its place and that there are no rows after them, and, with prefixes,
// the prefix (session.Prefix) that the row of each records through its message: of every
// row for a whole read (from 0), of the row at seq seed alone for a partial one, nil for
// the others, and for a row whose chain or tokens is not one. emit's byte slice is valid
// until it returns.
//
// On PostgreSQL, the queries name no bound of seq (and read seq to check the places): planned with the values of its
// parameters, a range of seq at the end of the index, where the newest rows always are,
// is estimated by reading the index's end, on every execution. A partial read there takes
// as many rows as it needs from the end, a number written in the query, so that the plan
// does not depend on its parameters and is made once.
func (st *Store) scanMessages(ctx context.Context, tx *sql.Tx, id string, from, count int64, prefixes bool, seed int64,
	emit func(seq int64, body []byte, p *session.Prefix) error) error {
	// SQLite reads the rows in a range of seq, which holds count-from rows exactly when
	// every place is filled once: their seq need not be read.
	withSeq := st.dialect.postgres
	columns, args := "body", []any{}
	switch {
	case prefixes && from == 0:
		columns = "body, chain, tokens"
	case prefixes:
		columns, args = "body, CASE WHEN seq = ? THEN chain END AS chain, CASE WHEN seq = ? THEN tokens END AS tokens", []any{seed, seed}
	}
	if withSeq {
		columns = "seq, " + columns
	}
	q := `SELECT ` + columns + ` FROM sqlstore_messages WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`
	args = append(args, id, from, count)
	if st.dialect.postgres {
		q, args = `SELECT `+columns+` FROM sqlstore_messages WHERE session_id = ? ORDER BY seq`, args[:len(args)-2]
		if from > 0 {
			q = fmt.Sprintf(`SELECT * FROM (SELECT %s FROM sqlstore_messages WHERE session_id = ?
				ORDER BY seq DESC LIMIT %d) AS recent ORDER BY seq`, columns, count-from)
		}
	}
	rows, err := tx.QueryContext(ctx, st.dialect.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq, tokens sql.NullInt64
	var body, chain sql.RawBytes
	dest := []any{&body}
	if withSeq {
		dest = []any{&seq, &body}
	}
	if prefixes {
		dest = append(dest, &chain, &tokens)
	}
	want := from // the seq of the next row
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if withSeq && (!seq.Valid || seq.Int64 != want) || want >= count {
			return &corruptError{column: "message_count or sqlstore_messages.seq",
				what: fmt.Sprintf("counts %d messages, the store holds one at %v where message %d belongs", count, nullable(seq.Int64, seq.Valid), want)}
		}
		var p *session.Prefix
		if len(chain) == sha256.Size && tokens.Valid && tokens.Int64 >= 0 && tokens.Int64 <= math.MaxInt32*int64(maxMessages) {
			p = &session.Prefix{Len: int(want) + 1, Chain: digest(chain), Tokens: int(tokens.Int64)}
		}
		if err := emit(want, body, p); err != nil {
			return err
		}
		want++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if want != count {
		return &corruptError{column: "message_count or sqlstore_messages.seq",
			what: fmt.Sprintf("counts %d messages, the store holds %d at their places", count, want)}
	}
	return nil
}

// digest is a chain digest, as session.Prefix holds it.
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
