package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
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
			s, err = st.read(ctx, tx, id, wholeSession, verified)
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
			s, err = st.read(ctx, tx, id, max(n, 0), verified)
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

// A readMode says what a read checks.
type readMode int

const (
	// verified: the session's digest must be the version its row records, its leading
	// system messages the chain their rows record, and, read whole, the prefix each
	// message's row records the session's.
	verified readMode = iota
	// raw: the rows as a migration finds them, of an older schema that records no
	// prefixes nor counts, and no version of the current kind.
	raw
)

// read reads the session with the given ID in tx: whole, or, with recent >= 0, its
// last recent messages, as a partial session, and checks it as mode says.
func (st *Store) read(ctx context.Context, tx *sql.Tx, id string, recent int, mode readMode) (session.Session, error) {
	r, err := st.readRow(ctx, tx, id, mode == verified)
	if err != nil {
		return session.Session{}, err
	}
	if !r.header.Valid || len(r.header.String) < 2 || r.header.String[0] != '{' {
		return session.Session{}, &corruptError{column: "header", what: fmt.Sprintf("%.40q is not a JSON object", r.header.String)}
	}
	plan := planRead(r, recent)
	rows, err := st.readRows(ctx, tx, id, plan, mode == verified)
	if err != nil {
		return session.Session{}, err
	}
	s, err := storage.Decode([]byte(r.header.String), rows.bodies)
	switch {
	case err != nil:
		if _, herr := storage.Decode([]byte(r.header.String), nil); herr != nil {
			return session.Session{}, &corruptError{column: "header", what: "not a session", err: herr}
		}
		return session.Session{}, &corruptError{column: "sqlstore_messages.body", what: "not a message", err: err}
	case s.ID() != id:
		return session.Session{}, &corruptError{column: "header", what: "holds session " + shortID(s.ID())}
	case mode == raw:
		return s, nil
	}
	return rows.verify(st, s, r.version.String)
}

// A partRead is what a read takes of a session's rows: rows [0, lead) and [from, count)
// of the messages, and of those, the messages from first on.
type partRead struct {
	count, first, from int64
	// system counts the leading system messages before first, which a partial read
	// takes for KeepSystem; lead is the rows it reads for them, the row after them
	// included, which proves that the session's row counts them all.
	system, lead int64
}

// planRead returns what a read of recent messages (or of all, wholeSession) of the
// session of r takes. A partial read takes the row before the messages it reads too,
// for the prefix it records.
func planRead(r sessionRow, recent int) partRead {
	p := partRead{count: r.count.Int64}
	if recent != wholeSession {
		p.first = max(p.count-int64(recent), 0)
	}
	if p.first > 0 {
		p.from, p.system = p.first-1, min(r.system.Int64, p.first)
		p.lead = p.system
		if p.system < p.first {
			p.lead = p.system + 1
		}
	}
	return p
}

// rowsRead is what readRows read.
type rowsRead struct {
	plan         partRead
	bodies       [][]byte          // the messages from plan.first on
	seed         storage.Prefix    // the prefix before them, for a partial read
	recorded     []storage.Prefix  // the prefix each row records, for a whole read
	leading      []session.Message // the leading system messages before plan.first
	leadingChain []byte            // the chain digest recorded through them
}

// readRows reads the rows plan says of the session with the given ID, with the
// prefixes they record if prefixes is set.
func (st *Store) readRows(ctx context.Context, tx *sql.Tx, id string, plan partRead, prefixes bool) (rowsRead, error) {
	rr := rowsRead{plan: plan, seed: storage.Prefix{Len: int(plan.first)}}
	if prefixes && plan.first == 0 {
		rr.recorded = make([]storage.Prefix, 0, min(plan.count, 1<<16))
	}
	// One buffer for the bodies, grown as they come: the count is a stored number.
	var buf []byte
	var ends []int
	err := st.scanMessages(ctx, tx, id, plan.lead, plan.from, plan.count, prefixes, func(seq int64, body, chain []byte, tokens sql.NullInt64) error {
		if body == nil {
			return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d is NULL", seq)}
		}
		if err := rr.takeLeading(seq, body, chain); err != nil {
			return err
		}
		if prefixes && (seq == plan.from && plan.first > 0 || plan.first == 0) {
			p, ok := prefixOf(seq, chain, tokens)
			switch {
			case !ok:
				return &corruptError{column: "sqlstore_messages.chain or tokens", what: fmt.Sprintf("of message %d is not a prefix's", seq)}
			case plan.first > 0:
				rr.seed.Chain, rr.seed.Tokens = p.Chain, p.Tokens
			default:
				rr.recorded = append(rr.recorded, p)
			}
		}
		if seq >= plan.first {
			buf = append(buf, body...)
			ends = append(ends, len(buf))
		}
		return nil
	})
	start := 0
	for _, end := range ends {
		rr.bodies = append(rr.bodies, buf[start:end:end])
		start = end
	}
	return rr, err
}

// takeLeading takes the row at seq if it is one of the leading system messages a
// partial read holds, or the row after them, which must not be one.
func (rr *rowsRead) takeLeading(seq int64, body, chain []byte) error {
	p := rr.plan
	if seq > p.system || seq == p.system && p.system >= p.first {
		return nil
	}
	var m session.Message
	if err := m.UnmarshalJSON(body); err != nil {
		return &corruptError{column: "sqlstore_messages.body", what: fmt.Sprintf("message %d", seq), err: err}
	}
	switch {
	case seq == p.system && m.Role == "system":
		return &corruptError{column: "system_count", what: fmt.Sprintf("counts %d leading system messages; message %d is one too", p.system, seq)}
	case seq == p.system:
		return nil
	case m.Role != "system":
		return &corruptError{column: "system_count", what: fmt.Sprintf("counts %d leading system messages; message %d is a %q message", p.system, seq, m.Role)}
	}
	rr.leading = append(rr.leading, m)
	if seq == p.system-1 {
		rr.leadingChain = bytes.Clone(chain)
	}
	return nil
}

// verify checks s, made of the rows rr read, against version, the version its row
// records, and returns s as the session (partial for a partial read) that they hold.
func (rr rowsRead) verify(st *Store, s session.Session, version string) (session.Session, error) {
	if len(rr.leading) > 0 {
		// The leading system messages are proven by the chain digest recorded through
		// them: the version stands for the messages read after them only.
		p, err := storage.PrefixAt(session.New("").AppendMessages(rr.leading...), len(rr.leading))
		if err != nil || !bytes.Equal(p.Chain[:], rr.leadingChain) {
			return session.Session{}, &corruptError{column: "sqlstore_messages.body or chain",
				what: fmt.Sprintf("the leading system messages are not those the chain digest of message %d records", len(rr.leading)-1)}
		}
	}
	s, err := storage.PrecededBy(s, rr.seed, rr.leading...)
	if err != nil {
		return session.Session{}, err
	}
	// Computing the digest here also keeps it with the messages, so that the next
	// Commit from s digests only what it adds.
	v, err := st.versionOf(s)
	if err != nil {
		return session.Session{}, err
	}
	if v != version {
		return session.Session{}, &corruptError{column: "version", what: "is not the digest of the session the rows hold"}
	}
	// A whole read checks the prefix each row records, on which a partial read relies.
	for i, p := range rr.recorded {
		if want, err := storage.PrefixAt(s, i+1); err != nil || p != want {
			return session.Session{}, &corruptError{column: "sqlstore_messages.chain or tokens", what: fmt.Sprintf("of message %d is not the prefix up to it", i)}
		}
	}
	return s, nil
}

// prefixOf returns the prefix through message seq that its row records, and whether it
// is one.
func prefixOf(seq int64, chain []byte, tokens sql.NullInt64) (storage.Prefix, bool) {
	if len(chain) != sha256.Size || !tokens.Valid || tokens.Int64 < 0 || tokens.Int64 > math.MaxInt32*int64(maxMessages) {
		return storage.Prefix{}, false
	}
	return storage.Prefix{Len: int(seq) + 1, Chain: digest(chain), Tokens: int(tokens.Int64)}, true
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

// digest is a chain digest, as storage.Prefix holds it.
type digest = [sha256.Size]byte
