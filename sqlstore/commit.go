package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/exllm-go/session"
)

// Commit persists next, a session made from base with the session package's functions,
// if the store still holds base; otherwise it returns ErrConflict and writes nothing.
// base is the session as the caller last loaded or committed it, or the zero Session to
// create next. Commit returns ErrNotFound if base's session is not stored.
//
// When next extends base by messages, the common turn, Commit inserts only the new
// messages, a row each, and updates the session's row: its cost does not grow with the
// length of the conversation. Any other change (ClearMessages, Truncate, another context
// or name, usage) is written in the same transaction: the rows from the first message
// that differs are replaced. Committing the same base and next again after it succeeded,
// a retry after a timeout, succeeds and writes nothing; so does a retry after other
// commits followed it, when it added messages to a stored base (a turn): the store holds
// them, with the times they were added to the microsecond. Creating a session again
// succeeds only while the store holds it as created.
//
// How the store knows it still holds base: each stored session has a version, the
// SHA-256 of its JSON without messages (ID, UpdatedAt, name, context, usage, ...), its
// number of messages and its last message. Commit updates the row only where the version
// is base's, in the same statement, so two writers from one base cannot both succeed.
// A stale base cannot match: Commit requires next's UpdatedAt to be later than base's,
// and the session package makes every change later, so the sessions a store holds one
// after the other have ever later UpdatedAt, which the version covers; a version
// never comes back.
func (st *Store) Commit(ctx context.Context, base, next session.Session) error {
	if err := st.commit(ctx, base, next); err != nil {
		return fmt.Errorf("sqlstore: commit %s: %w", next.ID(), err)
	}
	return nil
}

// errCommitted ends a transaction that finds its commit already made.
var errCommitted = errors.New("already committed")

func (st *Store) commit(ctx context.Context, base, next session.Session) error {
	creating := base.ID() == ""
	switch {
	case next.ID() == "":
		return errors.New("next is the zero Session: create sessions with session.New")
	case !creating && base.ID() != next.ID():
		return fmt.Errorf("next is another session than base (%s)", base.ID())
	case !creating && !next.UpdatedAt().After(base.UpdatedAt()) && !next.Equal(base):
		return errors.New("next is not a change of base: its UpdatedAt is not later")
	}
	keep := next.CommonPrefixLen(base) // messages of base that next keeps as they are
	var bodies [][]byte
	if n := next.Len() - keep; n > 0 {
		for i, m := range next.GetMessages(n) {
			body, err := m.MarshalJSON()
			if err != nil {
				return fmt.Errorf("message %d: %w", keep+i, err)
			}
			bodies = append(bodies, body)
		}
	}
	nextVersion, err := versionOf(next)
	if err != nil {
		return err
	}
	var baseVersion version
	if !creating {
		if baseVersion, err = versionOf(base); err != nil {
			return err
		}
	}
	row := sessionRow(next, nextVersion)

	err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if creating {
			res, err = tx.ExecContext(ctx, st.dialect.rebind(`INSERT INTO sqlstore_sessions (`+sessionColumns+`)
				VALUES (`+placeholders(len(row))+`) ON CONFLICT (id) DO NOTHING`), row...)
		} else {
			res, err = tx.ExecContext(ctx, st.dialect.rebind(`UPDATE sqlstore_sessions SET `+sessionAssignments+`
				WHERE id = ? AND version = ?`), append(row, base.ID(), baseVersion.id)...)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			if creating { // the messages of another session may be the same
				return st.settle(ctx, tx, next.ID(), nextVersion, keep, nil)
			}
			return st.settle(ctx, tx, next.ID(), nextVersion, keep, bodies)
		}
		if !creating && keep < base.Len() {
			if _, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_messages WHERE session_id = ? AND seq >= ?`),
				next.ID(), keep); err != nil {
				return err
			}
		}
		return st.insertMessages(ctx, tx, next.ID(), keep, bodies)
	})
	if errors.Is(err, errCommitted) {
		return nil
	}
	return err
}

// settle tells why a commit changed no row: the session is not there, or the commit
// was made already (a retry: the stored version is next's, or, for a commit that adds
// messages, the store holds them at their places, even if other commits followed), or
// another writer came first.
func (st *Store) settle(ctx context.Context, tx *sql.Tx, id string, next version, first int, bodies [][]byte) error {
	var stored string
	err := tx.QueryRowContext(ctx, st.dialect.rebind(`SELECT version FROM sqlstore_sessions WHERE id = ?`), id).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case stored == next.id:
		return errCommitted
	case len(bodies) == 0:
		return ErrConflict
	}
	rows, err := tx.QueryContext(ctx, st.dialect.rebind(`SELECT body FROM sqlstore_messages
		WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq`), id, first, first+len(bodies))
	if err != nil {
		return err
	}
	defer rows.Close()
	same := 0
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return err
		}
		if same < len(bodies) && body == string(bodies[same]) {
			same++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if same == len(bodies) {
		// The messages, with the times they were added to the microsecond, are this
		// commit's own: it was made, and others followed.
		return errCommitted
	}
	return ErrConflict
}

// maxRowsPerInsert keeps an INSERT's parameters well under SQLite's and PostgreSQL's
// limits.
const maxRowsPerInsert = 500

// insertMessages inserts bodies as the messages from seq first on.
func (st *Store) insertMessages(ctx context.Context, tx *sql.Tx, id string, first int, bodies [][]byte) error {
	for len(bodies) > 0 {
		batch := bodies[:min(len(bodies), maxRowsPerInsert)]
		bodies = bodies[len(batch):]
		var q strings.Builder
		q.WriteString("INSERT INTO sqlstore_messages (session_id, seq, body) VALUES ")
		args := make([]any, 0, 3*len(batch))
		for i, body := range batch {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?)")
			args = append(args, id, first, string(body))
			first++
		}
		if _, err := tx.ExecContext(ctx, st.dialect.rebind(q.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

// version identifies one state of a stored session: see Commit.
type version struct {
	id     string // hex SHA-256
	header []byte // the session's JSON without messages
}

func versionOf(s session.Session) (version, error) {
	header, err := s.HeaderJSON()
	if err != nil {
		return version{}, err
	}
	h := sha256.New()
	h.Write(header)
	h.Write([]byte{0})
	if s.Len() > 0 {
		last, err := s.GetMessages(1)[0].MarshalJSON()
		if err != nil {
			return version{}, err
		}
		h.Write(last)
	}
	h.Write([]byte("\x00" + strconv.Itoa(s.Len())))
	return version{id: hex.EncodeToString(h.Sum(nil)), header: header}, nil
}

// sessionColumns are the columns of a session's row, in the order of sessionRow.
const sessionColumns = `id, name, backend, created_us, updated_us, message_count,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, version, header`

// sessionAssignments sets the columns of sessionColumns, id included, to parameters.
var sessionAssignments = func() string {
	var set []string
	for _, c := range strings.Split(sessionColumns, ",") {
		set = append(set, strings.TrimSpace(c)+" = ?")
	}
	return strings.Join(set, ", ")
}()

// sessionRow returns the values of a session's row.
func sessionRow(s session.Session, v version) []any {
	u := s.TokenUsage()
	return []any{s.ID(), listable(s.Name()), listable(s.Backend()), s.CreatedAt().UnixMicro(), s.UpdatedAt().UnixMicro(),
		s.Len(), u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens, v.id, string(v.header)}
}

// listable returns s as a text column can hold it in every database: valid UTF-8 with
// no NUL. The header, from which Load makes the session, holds s as it is.
func listable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
