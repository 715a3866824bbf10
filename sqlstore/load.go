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
	err := st.usable(id)
	if err == nil {
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
// whole session's, read in time proportional to n, however long the conversation. It
// holds the session's leading system messages too, which the store counts at each
// commit, so that Window's KeepSystem sends them. It is
// what a stateless server needs for a turn: Window and AddMessage work on it, and it is
// a base for Commit, which writes a turn after it as after a whole session. It cannot
// be written whole (ToJSON), and Truncate before its first message makes it a session
// Commit refuses. A negative n counts as 0: the header alone.
//
// Like Load, it checks what it read: the messages and the chain digest recorded before
// them (see session.Prefix) must give the session's recorded version, and the leading
// system messages the chain digest their rows record.
func (st *Store) LoadRecent(ctx context.Context, id string, n int) (session.Session, error) {
	var s session.Session
	err := st.usable(id)
	if err == nil {
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
	r, err := st.readRow(ctx, tx, id, verify)
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
	// A partial read takes the rows of the leading system messages before the messages
	// it reads (for KeepSystem), the row before them for its prefix alone, and theirs.
	from, system := int64(0), int64(0)
	if first > 0 {
		from, system = first-1, min(r.system.Int64, first)
	}
	// The leading rows to read: the system messages, and the message after them, to
	// prove that the row counts them all.
	lead := system
	if system < first {
		lead = system + 1
	}
	// The session's JSON: its messages, then the rest of its header.
	var doc bytes.Buffer
	doc.Grow(len(header) + 256*int(min(count-first, 1<<16)))
	doc.WriteString(`{"messages":[`)
	seed := session.Prefix{Len: int(first)}
	var recorded []session.Prefix // the prefixes the rows record, read whole
	if verify && first == 0 {
		recorded = make([]session.Prefix, 0, min(count, 1<<16))
	}
	var leading []session.Message // the leading system messages, read apart
	var leadingChain []byte       // the chain digest recorded through them
	err = st.scanMessages(ctx, tx, id, lead, from, count, verify, func(seq int64, body, chain []byte, tokens sql.NullInt64) error {
		if body == nil {
			return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", seq)}
		}
		if seq < system {
			var m session.Message
			if err := m.UnmarshalJSON(body); err != nil {
				return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d", seq), err: err}
			}
			if m.Role != "system" {
				return &corruptError{column: "system_count", what: fmt.Sprintf("counts %d leading system messages; message %d is a %q message", r.system.Int64, seq, m.Role)}
			}
			leading = append(leading, m)
			if seq == system-1 {
				leadingChain = bytes.Clone(chain)
			}
		}
		if seq == system && system < first {
			var m session.Message
			if err := m.UnmarshalJSON(body); err != nil {
				return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d", seq), err: err}
			}
			if m.Role == "system" {
				return &corruptError{column: "system_count", what: fmt.Sprintf("counts %d leading system messages; message %d is one too", r.system.Int64, seq)}
			}
		}
		if verify && (seq == from && first > 0 || first == 0) {
			p, ok := prefixOf(seq, chain, tokens)
			switch {
			case !ok:
				return &corruptError{column: "sqlstore_messages.chain or tokens", what: fmt.Sprintf("of message %d is not a prefix's", seq)}
			case first > 0:
				seed.Chain, seed.Tokens = p.Chain, p.Tokens
			default:
				recorded = append(recorded, p)
			}
		}
		if seq < first {
			return nil
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
	if len(leading) > 0 {
		// The leading system messages are proven by the chain digest recorded through
		// them: the version stands for the messages read after them only.
		p, err := session.New("").AppendMessages(leading...).PrefixAt(len(leading))
		if err != nil || !bytes.Equal(p.Chain[:], leadingChain) {
			return session.Session{}, &corruptError{column: "sqlstore_messages.body or chain",
				what: fmt.Sprintf("the leading system messages are not those the chain digest of message %d records", len(leading)-1)}
		}
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
	s = s.PrecededBy(seed, leading...)
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

// prefixOf returns the prefix through message seq that its row records, and whether it
// is one.
func prefixOf(seq int64, chain []byte, tokens sql.NullInt64) (session.Prefix, bool) {
	if len(chain) != sha256.Size || !tokens.Valid || tokens.Int64 < 0 || tokens.Int64 > math.MaxInt32*int64(maxMessages) {
		return session.Prefix{}, false
	}
	return session.Prefix{Len: int(seq) + 1, Chain: digest(chain), Tokens: int(tokens.Int64)}, true
}

// scanMessages calls emit with the seq and body of the rows of the messages of the
// session with the given ID before seq lead and from seq from to count (not
// included), in order, checking that each is at its place and that there are no rows
// after them; with prefixes, with the chain and tokens that the row of each records
// through its message: of every row for a whole read (from 0), of the row at from, and
// the chains of the rows before lead, for a partial one (NULL for the others). emit's
// byte slices are valid until it returns.
//
// On PostgreSQL, the queries name no bound of seq that a parameter gives (and read seq to
// check the places): planned with the values of its parameters, a range of seq at the
// end of the index, where the newest rows always are, is estimated by reading the index's
// end, on every execution. A partial read there takes as many rows as it needs from the
// end, and the leading ones, numbers written in the query, so that the plan does not
// depend on its parameters and is made once.
func (st *Store) scanMessages(ctx context.Context, tx *sql.Tx, id string, lead, from, count int64, prefixes bool,
	emit func(seq int64, body, chain []byte, tokens sql.NullInt64) error) error {
	// SQLite reads the rows in ranges of seq, which hold as many rows as places exactly
	// when every place is filled once: their seq need not be read.
	withSeq := st.dialect.postgres
	columns, args := "body", []any{}
	switch {
	case prefixes && from == 0:
		columns = "body, chain, tokens"
	case prefixes:
		columns, args = "body, CASE WHEN seq = ? OR seq < ? THEN chain END AS chain, CASE WHEN seq = ? THEN tokens END AS tokens", []any{from, lead, from}
	}
	if withSeq {
		columns = "seq, " + columns
	}
	// The leading rows apart when there are rows between them and from, else all from 0.
	apart := lead > 0 && lead < from
	lo := from
	if lead > 0 && !apart {
		lo = 0
	}
	var q string
	switch {
	case !st.dialect.postgres && apart:
		q = `SELECT ` + columns + ` FROM sqlstore_messages WHERE session_id = ? AND (seq < ? OR seq >= ? AND seq < ?) ORDER BY seq`
		args = append(args, id, lead, from, count)
	case !st.dialect.postgres:
		q = `SELECT ` + columns + ` FROM sqlstore_messages WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`
		args = append(args, id, lo, count)
	case lo == 0:
		q = `SELECT ` + columns + ` FROM sqlstore_messages WHERE session_id = ? ORDER BY seq`
		args = append(args, id)
	default:
		q = fmt.Sprintf(`SELECT * FROM (SELECT %s FROM sqlstore_messages WHERE session_id = ? ORDER BY seq DESC LIMIT %d) AS recent`, columns, count-from)
		args = append(args, id)
		if apart {
			q = fmt.Sprintf(`SELECT %s FROM sqlstore_messages WHERE session_id = ? AND seq < %d UNION ALL `, columns, lead) + q
			args = append(args[:len(args):len(args)], args...) // each part's arguments
		}
		q = `SELECT * FROM (` + q + `) AS rows ORDER BY seq`
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
	// The seq of the next row: the leading ones, then from on.
	want, jumpAt := lo, int64(-1)
	if apart {
		want, jumpAt = 0, lead
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if withSeq && (!seq.Valid || seq.Int64 != want) || want >= count {
			return &corruptError{column: "message_count or sqlstore_messages.seq",
				what: fmt.Sprintf("counts %d messages, the store holds one at %v where message %d belongs", count, nullable(seq.Int64, seq.Valid), want)}
		}
		if err := emit(want, body, chain, tokens); err != nil {
			return err
		}
		if want++; want == jumpAt {
			want = from
		}
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
