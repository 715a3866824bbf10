package sqlstore

import (
	"context"
	"database/sql"
)

// OpenAtVersion opens a store on db with its schema at version v, as an older version
// of this package would: for the tests of migrations.
func OpenAtVersion(ctx context.Context, db *sql.DB, v int) (*Store, error) {
	return open(ctx, db, v)
}
