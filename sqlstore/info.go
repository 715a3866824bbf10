package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Info returns what the store knows of the session with the given ID without reading
// its messages: its length, usage, name, owner and times. It returns ErrNotFound if the
// store (or this owner's view) does not hold it.
func (st *Store) Info(ctx context.Context, id string) (Info, error) {
	err := st.usable(id)
	var info Info
	if err == nil {
		filter, args := st.ownerFilter()
		row := st.db.QueryRowContext(ctx, st.dialect.rebind(`SELECT `+infoColumns+` FROM sqlstore_sessions WHERE id = ?`+filter),
			append([]any{id}, args...)...)
		info, err = scanInfo(row)
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
	}
	if err != nil {
		return Info{}, fmt.Errorf("sqlstore: info of %s: %w", shortID(id), withContext(ctx, err))
	}
	return info, nil
}

// infoColumns are the columns scanInfo reads.
const infoColumns = `id, owner, name, backend, message_count, input_tokens, output_tokens, cache_read_tokens,
	cache_write_tokens, reasoning_tokens, created_us, updated_us`

// scanInfo reads an Info from a row of infoColumns, checking what it holds.
func scanInfo(row interface{ Scan(dest ...any) error }) (Info, error) {
	var i Info
	var owner, name, backend sql.NullString
	var count, created, updated sql.NullInt64
	var usage [5]sql.NullInt64
	if err := row.Scan(&i.ID, &owner, &name, &backend, &count, &usage[0], &usage[1], &usage[2],
		&usage[3], &usage[4], &created, &updated); err != nil {
		return Info{}, err
	}
	for _, c := range []struct {
		name  string
		valid bool
	}{{"owner", owner.Valid}, {"name", name.Valid}, {"backend", backend.Valid},
		{"message_count", count.Valid && count.Int64 >= 0 && count.Int64 <= maxMessages},
		{"created_us", created.Valid}, {"updated_us", updated.Valid}} {
		if !c.valid {
			return Info{}, fmt.Errorf("session %s: %w", shortID(i.ID), &corruptError{column: c.name, what: "not a value the store writes"})
		}
	}
	i.Owner, i.Name, i.Backend, i.Len = owner.String, name.String, backend.String, int(count.Int64)
	i.CreatedAt, i.UpdatedAt = time.UnixMicro(created.Int64).UTC(), time.UnixMicro(updated.Int64).UTC()
	u := &i.Usage
	for k, p := range []*int{&u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheWriteTokens, &u.ReasoningTokens} {
		*p = int(usage[k].Int64) // NULL as 0
	}
	return i, nil
}
