package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"

	"github.com/exllm-go/session/sqlstore"
)

// busyError is SQLite's SQLITE_BUSY as modernc.org/sqlite reports it: an error with
// the code.
type busyError struct{}

func (busyError) Error() string { return "database is locked (5) (SQLITE_BUSY)" }
func (busyError) Code() int     { return 5 }

// busyConnector connects to SQLite through modernc.org/sqlite, after failing the first
// connections as SQLite does when a new file is being set up by another process.
type busyConnector struct {
	dsn   string
	fails atomic.Int32
}

func (c *busyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.fails.Add(-1) >= 0 {
		return nil, busyError{}
	}
	return c.Driver().Open(c.dsn)
}

func (c *busyConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// TestOpenRetriesBusy: Open waits out a database that reports itself busy, as a new
// SQLite file does to all but one of the processes that open it at once; the
// concurrent test above meets that only now and then.
func TestOpenRetriesBusy(t *testing.T) {
	c := &busyConnector{dsn: sqlstore.SQLiteDSN(filepath.Join(t.TempDir(), "busy.db"))}
	c.fails.Store(5)
	db := sql.OpenDB(c)
	defer db.Close()
	st, err := sqlstore.Open(ctx, db)
	require.NoError(t, err)
	assert.Contains(t, st.Dialect(), "SQLite")
	assert.Negative(t, c.fails.Load(), "it was busy, and Open tried again")
}
