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
func (st *Store) pruneBatch(ctx context.Context, cut int64) (deleted int, more bool, err error) {
	err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
		deleted = 0
		filter, args := st.ownerFilter()
		ids, err := queryIDs(ctx, tx, st.dialect.rebind(`SELECT id FROM sqlstore_sessions WHERE updated_us < ?`+filter+
			` ORDER BY updated_us LIMIT ?`), append(append([]any{cut}, args...), pruneBatch)...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			// Again with the time: a commit may have come since the SELECT.
			res, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_sessions WHERE id = ? AND updated_us < ?`), id, cut)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				continue
			}
			for _, table := range []string{"sqlstore_messages", "sqlstore_versions"} {
				if _, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM `+table+` WHERE session_id = ?`), id); err != nil {
					return err
				}
			}
			deleted++
		}
		more = len(ids) == pruneBatch
		return nil
	})
	return deleted, more, err
}
