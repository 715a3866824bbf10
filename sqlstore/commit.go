package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
)

// Commit persists next, a session made from base with the session package's functions,
// if the store holds exactly base; otherwise it returns ErrConflict and writes nothing.
// base is the session as the caller last loaded or committed it, or the zero Session to
// create next. Commit returns ErrNotFound if base's session is not stored, and
// ErrInvalidID for a session whose ID no database could hold.
//
// When next extends base by messages, the common turn, Commit inserts only the new
// messages, a row each, and updates the session's row: its cost does not grow with the
// length of the conversation, nor with the size of the messages before. Any other
// change (ClearMessages, Truncate, another context or name, usage) is written in the
// same transaction: the rows from the first message that differs are replaced.
//
// How the store knows it holds base: each stored session has a version, its
// session.Digest, which identifies every byte of its JSON. Commit updates the row only
// where the version is base's, in the same statement, so two writers from one base
// cannot both succeed, however alike their changes and whatever their clocks say.
//
// A Commit that finds another version stored returns nil if that version is next's, or
// if next is one of the last RetainedVersions versions the session held: the commit was
// made already, by an earlier try of this one (a retry after a timeout that hid its
// success) or by a writer that made the very same change. Otherwise it is ErrConflict.
// Creating a session that is stored succeeds on the same terms. A Commit of next
// unchanged (Equal to base) only checks that the store holds base.
//
// A Commit cut by its context's end returns an error that matches ctx.Err(); it may
// have been made or not, and committing the same base and next again tells which.
func (st *Store) Commit(ctx context.Context, base, next session.Session) error {
	if err := st.commit(ctx, base, next); err != nil {
		return fmt.Errorf("sqlstore: commit %s: %w", shortID(next.ID()), withContext(ctx, err))
	}
	st.maybeCheckpoint(ctx)
	return nil
}

// RetainedVersions is how many of its last versions the store records for each
// session, so that a Commit retried after later commits is known to have been made.
// A retry after more commits than this gets ErrConflict.
const RetainedVersions = 64

// errCommitted ends a transaction that finds its commit already made.
var errCommitted = errors.New("already committed")

func (st *Store) commit(ctx context.Context, base, next session.Session) error {
	creating := base.IsZero()
	switch {
	case st.invalid != nil:
		return st.invalid
	case next.IsZero():
		return errors.New("next is the zero Session: create sessions with session.New")
	case !validID(next.ID()):
		return ErrInvalidID
	case !creating && base.ID() != next.ID():
		return fmt.Errorf("next is another session than base (%s)", shortID(base.ID()))
	case !creating && !next.UpdatedAt().After(base.UpdatedAt()) && !next.Equal(base):
		return errors.New("next is not a change of base: its UpdatedAt is not later")
	}
	keep := next.CommonPrefixLen(base) // messages of base that next keeps as they are
	if keep < next.FirstIndex() {
		return fmt.Errorf("next is a partial session that does not hold messages [%d, %d) it changes: load the session whole to change them", keep, next.FirstIndex())
	}
	rows, err := newRows(next, keep)
	if err != nil {
		return err
	}
	nextVersion, err := st.versionOf(next)
	if err != nil {
		return err
	}
	var baseVersion string
	if !creating {
		if baseVersion, err = st.versionOf(base); err != nil {
			return fmt.Errorf("base: %w", err)
		}
	}
	header, err := storage.Header(next)
	if err != nil {
		return err
	}
	row := append(rowOf(next, nextVersion, header), st.owner)
	filter, ownerArgs := st.ownerFilter()
	// The leading system messages, counted for LoadRecent. A partial session's held ones
	// continue the run only if the store counts all the messages before them.
	system, systemArgs := "?", []any{leadingSystem(next)}
	if first := next.FirstIndex(); first > 0 {
		system, systemArgs = "CASE WHEN system_count < ? THEN system_count ELSE ? END", []any{first, first + leadingSystem(next)}
	}

	err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
		var revision int64
		var err error
		if creating {
			err = tx.QueryRowContext(ctx, st.dialect.rebind(`INSERT INTO sqlstore_sessions (`+sessionColumns+`, owner, system_count, revision)
				VALUES (`+placeholders(len(row)+1)+`, 1) ON CONFLICT (id) DO NOTHING RETURNING revision`), append(row, systemArgs...)...).Scan(&revision)
		} else {
			args := append(append(append(row[:len(row)-1:len(row)-1], systemArgs...), base.ID(), baseVersion), ownerArgs...)
			err = tx.QueryRowContext(ctx, st.dialect.rebind(`UPDATE sqlstore_sessions SET `+sessionAssignments+`, system_count = `+system+`,
				revision = revision + 1 WHERE id = ? AND version = ?`+filter+` RETURNING revision`), args...).Scan(&revision)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return st.settle(ctx, tx, next.ID(), nextVersion, nextVersion == baseVersion)
		}
		if err != nil {
			return err
		}
		if !creating && keep < base.Len() {
			if _, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_messages WHERE session_id = ? AND seq >= ?`),
				next.ID(), keep); err != nil {
				return err
			}
		}
		if err := st.insertMessages(ctx, tx, next.ID(), keep, rows); err != nil {
			return err
		}
		return st.record(ctx, tx, next.ID(), revision, nextVersion)
	})
	if errors.Is(err, errCommitted) {
		return nil
	}
	return err
}

// record records version as the session's revision, and forgets the version that
// falls out of the last RetainedVersions. Revisions count commits one by one, so that
// exactly one falls out: deleting it by its key, rather than every revision below,
// keeps the delete from walking the entries of the versions deleted before, which a
// PostgreSQL index keeps until the table is vacuumed.
func (st *Store) record(ctx context.Context, tx *sql.Tx, id string, revision int64, version string) error {
	if _, err := tx.ExecContext(ctx, st.dialect.rebind(`INSERT INTO sqlstore_versions (session_id, revision, version) VALUES (?, ?, ?)`),
		id, revision, version); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_versions WHERE session_id = ? AND revision = ?`),
		id, revision-RetainedVersions)
	return err
}

// settle tells why a commit changed no row: the session is not there, or the commit
// was made already (the stored version is next's, or next's is among the versions the
// session held last, unless the commit changes nothing and so only checks that base is
// stored), or another writer came first.
func (st *Store) settle(ctx context.Context, tx *sql.Tx, id string, next string, unchanged bool) error {
	var stored string
	filter, args := st.ownerFilter()
	err := tx.QueryRowContext(ctx, st.dialect.rebind(`SELECT version FROM sqlstore_sessions WHERE id = ?`+filter),
		append([]any{id}, args...)...).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case stored == next:
		return errCommitted
	case unchanged:
		return ErrConflict
	}
	var held int
	err = tx.QueryRowContext(ctx, st.dialect.rebind(`SELECT count(*) FROM sqlstore_versions WHERE session_id = ? AND version = ?`),
		id, next).Scan(&held)
	switch {
	case err != nil:
		return err
	case held > 0:
		return errCommitted
	}
	return ErrConflict
}

// maxRowsPerInsert keeps an INSERT's parameters well under SQLite's and PostgreSQL's
// limits.
const maxRowsPerInsert = 200

// messageRow is what a message's row holds besides its session and place: its body,
// and the prefix through it (see storage.Prefix), for LoadRecent.
type messageRow struct {
	body   string
	chain  digest
	tokens int
}

// newRows returns the rows of the messages of s from index first on.
func newRows(s session.Session, first int) ([]messageRow, error) {
	n := s.Len() - first
	if n <= 0 {
		return nil, nil
	}
	rows := make([]messageRow, 0, n)
	for i, m := range s.GetMessages(n) {
		body, err := m.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", first+i, err)
		}
		p, err := storage.PrefixAt(s, first+i+1)
		if err != nil {
			return nil, err
		}
		rows = append(rows, messageRow{string(body), p.Chain, p.Tokens})
	}
	return rows, nil
}

// insertMessages inserts rows as the messages from seq first on.
func (st *Store) insertMessages(ctx context.Context, tx *sql.Tx, id string, first int, rows []messageRow) error {
	for len(rows) > 0 {
		batch := rows[:min(len(rows), maxRowsPerInsert)]
		rows = rows[len(batch):]
		var q strings.Builder
		q.WriteString("INSERT INTO sqlstore_messages (session_id, seq, body, chain, tokens) VALUES ")
		args := make([]any, 0, 5*len(batch))
		for i, row := range batch {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("(?,?,?,?,?)")
			args = append(args, id, first, row.body, row.chain[:], row.tokens)
			first++
		}
		if _, err := tx.ExecContext(ctx, st.dialect.rebind(q.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

// versionOf returns the version of s as the store records it: digestVersion, unless a
// test broke this store on purpose, to see its linearizability check fail.
func (st *Store) versionOf(s session.Session) (string, error) {
	if st.brokenVersions != nil {
		return st.brokenVersions(s)
	}
	return digestVersion(s)
}

// digestVersion returns the version of s as the store records it: its digest, in hex,
// and the tokens its messages are estimated at (see storage.Prefix), which the row
// before the messages that LoadRecent reads records for them. The digest covers every
// byte of s; the estimate is a number computed from them, but it is read from a row of
// its own that a digest of the messages after it does not cover: in the version, it is
// proven with them, so that a changed row is found, never committed onward.
func digestVersion(s session.Session) (string, error) {
	d, err := s.Digest()
	if err != nil {
		return "", err
	}
	p, err := storage.PrefixAt(s, s.Len())
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(d[:]) + "." + strconv.Itoa(p.Tokens), nil
}

// sessionColumns are the columns of a session's row that a commit writes, in the order
// of rowOf.
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

// leadingSystem returns how many system messages begin the messages that s holds.
func leadingSystem(s session.Session) int {
	n := 0
	for m := range s.Messages() {
		if m.Role != "system" {
			break
		}
		n++
	}
	return n
}

// rowOf returns the values of a session's row.
func rowOf(s session.Session, version string, header []byte) []any {
	u := s.TokenUsage()
	return []any{s.ID(), listable(s.Name()), listable(s.Backend()), s.CreatedAt().UnixMicro(), s.UpdatedAt().UnixMicro(),
		s.Len(), u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens, version, string(header)}
}

// listable returns s as a text column can hold it in every database: valid UTF-8 with
// no NUL. The header, from which Load makes the session, holds s as it is written.
func listable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
