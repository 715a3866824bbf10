package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// Delete removes the session with the given ID and its messages. It returns ErrNotFound
// if the store does not hold it.
func (st *Store) Delete(ctx context.Context, id string) error {
	err := st.usable(id)
	if err == nil {
		err = st.inTx(ctx, nil, func(tx *sql.Tx) error {
			filter, args := st.ownerFilter()
			res, err := tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_sessions WHERE id = ?`+filter), append([]any{id}, args...)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err == nil {
					err = ErrNotFound
				}
				return err
			}
			if _, err = tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_messages WHERE session_id = ?`), id); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, st.dialect.rebind(`DELETE FROM sqlstore_versions WHERE session_id = ?`), id)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", shortID(id), withContext(ctx, err))
	}
	return nil
}
