package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// pruneBatch is how many sessions Prune deletes in one transaction.
const pruneBatch = 100

// Prune deletes the sessions (on a view, the owner's) last updated before before, with
// their messages, and returns how many it deleted. It deletes them in batches of 100 in
// short transactions of their own, so that writers of other sessions never wait for more
// than one batch; a session updated again meanwhile is kept. On error it returns how many
// it deleted until then.
func (st *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if st.invalid != nil {
		return 0, fmt.Errorf("sqlstore: prune: %w", st.invalid)
	}
	cut := before.UnixMicro()
	total := 0
	for {
		n, more, err := st.pruneBatch(ctx, cut)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlstore: prune: %w", withContext(ctx, err))
		}
		if !more {
			return total, nil
		}
	}
}

// pruneBatch deletes up to pruneBatch sessions updated before cut, in microseconds,
// and reports whether there may be more.
//
// One statement chooses the sessions and deletes them, and it states its conditions
// (the time, the owner) on the rows it deletes as well as on those it chooses: on
// PostgreSQL, a row that a concurrent commit holds is deleted after that commit, only
// if the row as the commit left it still meets them. The messages and versions of the
// sessions it deleted are theirs: no other writer can make a session of the same ID
// until this transaction ends.
func (st *Store) pruneBatch(ctx context.Context, cut int64) (deleted int, more bool, err error) {
	err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
		filter, ownerArgs := st.ownerFilter()
		chosen := `SELECT id FROM sqlstore_sessions WHERE updated_us < ?` + filter + ` ORDER BY updated_us LIMIT ?`
		args := append(append(append([]any{cut}, ownerArgs...), pruneBatch, cut), ownerArgs...)
		ids, err := queryIDs(ctx, tx, st.dialect.rebind(`DELETE FROM sqlstore_sessions WHERE id IN (`+chosen+`)
			AND updated_us < ?`+filter+` RETURNING id`), args...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			for _, table := range []string{"sqlstore_messages", "sqlstore_versions"} {
				if _, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM `+table+` WHERE session_id = ?`), id); err != nil {
					return err
				}
			}
		}
		// A batch that found rows the statement then kept (updated meanwhile) may
		// not be the last.
		deleted, more = len(ids), len(ids) > 0
		return nil
	})
	return deleted, more, err
}
