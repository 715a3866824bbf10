package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/exllm-go/session"
)

// OpenAtVersion opens a store on db with its schema at version v, as an older version
// of this package would: for the tests of migrations.
func OpenAtVersion(ctx context.Context, db *sql.DB, v int) (*Store, error) {
	return open(ctx, db, v)
}

// BreakVersions makes the versions of st, and of the views made of it after, cover a
// session's number of messages and its last message only, as they once did: for the
// test that shows the linearizability check catches a broken store.
func BreakVersions(st *Store) {
	st.brokenVersions = func(s session.Session) (string, error) {
		h := sha256.New()
		fmt.Fprint(h, s.Len())
		if m, ok := s.LastMessage(); ok {
			last, err := m.MarshalJSON()
			if err != nil {
				return "", err
			}
			h.Write(last)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
}
