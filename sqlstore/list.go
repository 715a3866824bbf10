package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/exllm-go/session"
)

// Info describes a stored session without its messages, as List and Info return it.
type Info struct {
	ID        string
	Owner     string // "" for a session of no owner: see Store.ForOwner
	Name      string // "" for none; bytes that are not UTF-8, and NULs, as U+FFFD
	Backend   string
	Len       int // the number of messages
	Usage     session.TokenUsage
	CreatedAt time.Time // to the microsecond
	UpdatedAt time.Time // to the microsecond
}

// Cursor returns where a listing stops after this session: ListOptions.After of the
// next page. It is made of ID and UpdatedAt alone.
func (i Info) Cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(i.UpdatedAt.UnixMicro(), 10) + " " + i.ID))
}

// ListOptions say which sessions List returns.
type ListOptions struct {
	// Limit is the most sessions to return; 0 means all.
	Limit int
	// After is the Cursor of the last session of the previous page; "" starts at the
	// newest.
	After string
}

// pageSize is how many sessions List reads from the database at a time.
const pageSize = 200

// List returns the stored sessions, the most recently updated first (ties by ID),
// reading a page of rows at a time with a keyset cursor, so that each page costs the
// same however many sessions there are. It reads no messages. A loop may stop at any
// time; an error ends the listing.
//
//	for info, err := range st.List(ctx, sqlstore.ListOptions{Limit: 50}) {
//		if err != nil { ... }
//		fmt.Println(info.ID, info.Name, info.Len)
//	}
func (st *Store) List(ctx context.Context, opts ListOptions) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		updated, id, err := parseCursor(opts.After)
		if st.invalid != nil {
			err = st.invalid
		}
		if err != nil {
			yield(Info{}, fmt.Errorf("sqlstore: list: %w", err))
			return
		}
		for sent := 0; opts.Limit <= 0 || sent < opts.Limit; {
			n := pageSize
			if opts.Limit > 0 {
				n = min(n, opts.Limit-sent)
			}
			page, err := st.page(ctx, updated, id, n)
			if err != nil {
				yield(Info{}, fmt.Errorf("sqlstore: list: %w", withContext(ctx, err)))
				return
			}
			for _, info := range page {
				if !yield(info, nil) {
					return
				}
			}
			sent += len(page)
			if len(page) < n {
				return
			}
			last := page[len(page)-1]
			us := last.UpdatedAt.UnixMicro()
			updated, id = &us, last.ID
		}
	}
}

// page reads up to n sessions after the one updated at *updated with ID id (from the
// newest when updated is nil).
func (st *Store) page(ctx context.Context, updated *int64, id string, n int) ([]Info, error) {
	query := `SELECT ` + infoColumns + ` FROM sqlstore_sessions WHERE 1 = 1`
	filter, args := st.ownerFilter()
	query += filter
	if updated != nil {
		query += ` AND (updated_us, id) < (?, ?)`
		args = append(args, *updated, id)
	}
	query += ` ORDER BY updated_us DESC, id DESC LIMIT ?`
	args = append(args, n)
	rows, err := st.db.QueryContext(ctx, st.dialect.rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := make([]Info, 0, n)
	for rows.Next() {
		i, err := scanInfo(rows)
		if err != nil {
			return nil, err
		}
		page = append(page, i)
	}
	return page, rows.Err()
}

func parseCursor(c string) (*int64, string, error) {
	if c == "" {
		return nil, "", nil
	}
	data, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, "", ErrBadCursor
	}
	updatedText, id, ok := strings.Cut(string(data), " ")
	updated, err := strconv.ParseInt(updatedText, 10, 64)
	if !ok || err != nil || !validID(id) {
		return nil, "", ErrBadCursor
	}
	return &updated, id, nil
}
