package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/exllm-go/session/sqlstore"
)

// postgresEnv names the variable that holds the DSN of a PostgreSQL server for the
// tests, a postgres:// URL. The PostgreSQL tests are skipped when it is unset.
const postgresEnv = "SQLSTORE_POSTGRES_DSN"

// backend is a database the tests run on.
type backend struct {
	name   string
	driver string
	// newDSN returns the DSN of a new, empty database (a file, or a schema of its own).
	newDSN func(t testing.TB) string
}

func backends(t testing.TB) []backend {
	b := []backend{{name: "sqlite", driver: "sqlite", newDSN: func(t testing.TB) string {
		return sqlstore.SQLiteDSN(filepath.Join(t.TempDir(), "store.db"))
	}}}
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Logf("%s is not set: PostgreSQL is not tested", postgresEnv)
		return b
	}
	return append(b, backend{name: "postgres", driver: "pgx", newDSN: func(t testing.TB) string {
		return newSchema(t, dsn)
	}})
}

// newSchema creates a schema of its own for a test in the PostgreSQL database at dsn,
// dropped after the test, and returns a DSN that uses it.
func newSchema(t testing.TB, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer admin.Close()
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", dsn)
		if err == nil {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens dsn with driver and a store on it, closed after the test.
func open(t testing.TB, driver, dsn string) (*sqlstore.Store, *sql.DB) {
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := sqlstore.Open(context.Background(), db)
	require.NoError(t, err)
	return st, db
}

// forEach runs test on a new store of every backend.
func forEach(t *testing.T, test func(t *testing.T, st *sqlstore.Store, db *sql.DB)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			st, db := open(t, b.driver, b.newDSN(t))
			test(t, st, db)
		})
	}
}

// TestMain says loudly when PostgreSQL is not tested, and fails where it must be: in CI
// (CI=true), which always starts a server.
func TestMain(m *testing.M) {
	if os.Getenv(postgresEnv) == "" {
		fmt.Fprintf(os.Stderr, "\n*** %s is not set: every PostgreSQL test of sqlstore is SKIPPED ***\n"+
			"*** (bash .ci/run starts a server and sets it)                         ***\n\n", postgresEnv)
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "sqlstore: CI must test PostgreSQL")
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}
