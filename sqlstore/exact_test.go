package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
	"github.com/exllm-go/session/storage"
)

// The tests here are the reproductions of issue 14: each failed before the store's
// versions identified whole sessions.

// fromFuture returns a stored session whose UpdatedAt is an hour ahead of this clock,
// as one written on a machine whose clock is ahead.
func fromFuture(t *testing.T, st *sqlstore.Store) session.Session {
	base := futureSession(t)
	require.NoError(t, st.Commit(ctx, session.Session{}, base))
	return base
}

// futureSession returns a new session whose UpdatedAt is an hour ahead of this clock:
// every change made to it is a microsecond after it, whatever the clock says.
func futureSession(t *testing.T) session.Session {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	s, err := session.FromJSON([]byte(`{"id":"` + session.New("").ID() + `","created_at":"` + future + `","updated_at":"` + future + `"}`))
	require.NoError(t, err)
	return s
}

func TestCommitOfAChangeNeverMade(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		t.Run("clock behind the base", func(t *testing.T) {
			base := fromFuture(t, st)
			a := base.AddMessage("user", "delete my account").AddMessage("assistant", "Done.")
			c := base.AddMessage("user", "keep my account").AddMessage("assistant", "Done.")
			require.NoError(t, st.Commit(ctx, base, a))
			assert.ErrorIs(t, st.Commit(ctx, base, c), sqlstore.ErrConflict)
			loaded, err := st.Load(ctx, base.ID())
			require.NoError(t, err)
			assert.True(t, loaded.Equal(a))
		})
		t.Run("same message bytes, other usage or context", func(t *testing.T) {
			base := session.New("openai")
			require.NoError(t, st.Commit(ctx, session.Session{}, base))
			at := time.Now()
			a := base.AddMessage("user", "hi", session.WithTimestamp(at))
			c := base.AddMessage("user", "hi", session.WithTimestamp(at)).UpdateTokenUsage(session.TokenUsage{InputTokens: 7})
			d := base.AddMessage("user", "hi", session.WithTimestamp(at)).SetContext(map[string]any{"k": "v"})
			require.NoError(t, st.Commit(ctx, base, a))
			assert.ErrorIs(t, st.Commit(ctx, base, c), sqlstore.ErrConflict)
			assert.ErrorIs(t, st.Commit(ctx, base, d), sqlstore.ErrConflict)
			loaded, err := st.Load(ctx, base.ID())
			require.NoError(t, err)
			assert.True(t, loaded.Equal(a))
		})
		t.Run("two goroutines add the same message at once", func(t *testing.T) {
			base := session.New("openai")
			require.NoError(t, st.Commit(ctx, session.Session{}, base))
			for trial := range 50 {
				at := time.Now()
				nexts := []session.Session{
					base.AddMessage("user", "hi", session.WithTimestamp(at)),
					base.AddMessage("user", "hi", session.WithTimestamp(at)).SetName(fmt.Sprint("other ", trial)),
				}
				errs := make([]error, 2)
				var wg sync.WaitGroup
				for i := range nexts {
					wg.Go(func() { errs[i] = st.Commit(ctx, base, nexts[i]) })
				}
				wg.Wait()
				loaded, err := st.Load(ctx, base.ID())
				require.NoError(t, err)
				for i, err := range errs {
					if err == nil {
						require.True(t, loaded.Equal(nexts[i]), "trial %d: commit %d returned nil, the store holds another", trial, i)
					} else {
						require.ErrorIs(t, err, sqlstore.ErrConflict)
					}
				}
				base = loaded
			}
		})
	})
}

func TestInvalidUTF8CanBeCommittedAgain(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("user", "hello")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		next := s.SetName("caf\xc3").SetContext(map[string]any{"out": "bin\xff"}).AddMessage("tool", "cut \xe2\x82")
		require.NoError(t, st.Commit(ctx, s, next))
		for i := range 3 {
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			turn := loaded.AddMessage("user", fmt.Sprint("turn ", i, " \xfe"))
			require.NoError(t, st.Commit(ctx, loaded, turn), "a loaded session is a base, turn %d", i)
		}
	})
}

func TestKeysWrittenAlikeAreRefused(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		err := st.Commit(ctx, s, s.SetContext(map[string]any{"\xff": 1, "\xfe": 2}))
		assert.ErrorContains(t, err, "duplicate key")
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(s), "nothing written")
	})
}

// TestRetriesAreExact checks that a retried commit succeeds exactly when the store holds
// or held its next, within the versions it retains.
func TestRetriesAreExact(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		base := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, base))
		turn := base.AddMessage("user", "hi")
		require.NoError(t, st.Commit(ctx, base, turn))
		other := base.AddMessage("user", "hi").SetName("not committed")
		cur := turn
		for i := range sqlstore.RetainedVersions - 1 {
			next := cur.AddMessage("user", fmt.Sprint(i))
			require.NoError(t, st.Commit(ctx, cur, next))
			cur = next
		}
		assert.NoError(t, st.Commit(ctx, base, turn), "held %d versions ago", sqlstore.RetainedVersions-1)
		assert.ErrorIs(t, st.Commit(ctx, base, other), sqlstore.ErrConflict, "never held")
		require.NoError(t, st.Commit(ctx, cur, cur.AddMessage("user", "one more")))
		assert.ErrorIs(t, st.Commit(ctx, base, turn), sqlstore.ErrConflict, "forgotten: the record is bounded")
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlstore_versions").Scan(&n))
		assert.LessOrEqual(t, n, 2*sqlstore.RetainedVersions)
	})
}

func TestSQLiteDSN(t *testing.T) {
	for _, name := range []string{"what?.db", "a#b.db", "50%25.db", "with space.db", "ünïcödé.db", "%.db", "q?x=1&y#z.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
			require.NoError(t, err)
			defer db.Close()
			_, err = sqlstore.Open(ctx, db)
			require.NoError(t, err)
			_, err = os.Stat(path)
			require.NoError(t, err, "the file is at the path given")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.True(t, strings.HasPrefix(e.Name(), name), "another file: %s", e.Name())
			}
			var busy, sync int
			var mode string
			require.NoError(t, db.QueryRow("PRAGMA busy_timeout").Scan(&busy))
			require.NoError(t, db.QueryRow("PRAGMA synchronous").Scan(&sync))
			require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
			assert.Equal(t, 10000, busy)
			assert.Equal(t, 2, sync, "FULL")
			assert.Equal(t, "wal", mode)
		})
	}
}

// TestOpenFreshSQLiteAtOnce opens a new SQLite file from many connection pools at once,
// as many processes starting together do: every open succeeds.
func TestOpenFreshSQLiteAtOnce(t *testing.T) {
	const trials, openers = 20, 10
	for trial := range trials {
		dsn := sqlstore.SQLiteDSN(filepath.Join(t.TempDir(), "fresh.db"))
		errs := make([]error, openers)
		var wg sync.WaitGroup
		for i := range openers {
			wg.Go(func() {
				db, err := sql.Open("sqlite", dsn)
				if err == nil {
					defer db.Close()
					_, err = sqlstore.Open(ctx, db)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "trial %d, opener %d", trial, i)
		}
	}
}

func TestOpenNamesTheCause(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "missing", "x.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.Open(ctx, db)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "neither SQLite nor PostgreSQL")
	assert.Contains(t, err.Error(), "unable to open database file")
}

// TestOpenWithDMLOnly opens a current schema as a PostgreSQL role that may only read
// and write rows, and a new one, which it may not create.
func TestOpenWithDMLOnly(t *testing.T) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skipf("%s is not set", postgresEnv)
	}
	owner := newSchema(t, dsn)
	st, admin := open(t, "pgx", owner)
	var schema string
	require.NoError(t, admin.QueryRow("SELECT current_schema()").Scan(&schema))
	role := "app_" + schema
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
	} {
		_, err := admin.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		admin.Exec("DROP OWNED BY " + role)
		admin.Exec("DROP ROLE " + role)
	})
	s := session.New("openai")
	require.NoError(t, st.Commit(ctx, session.Session{}, s))

	app, _ := open(t, "pgx", withUser(t, owner, role))
	loaded, err := app.Load(ctx, s.ID())
	require.NoError(t, err)
	require.NoError(t, app.Commit(ctx, loaded, loaded.AddMessage("user", "hi")))

	_, err = admin.Exec("CREATE SCHEMA empty_" + schema + "; GRANT USAGE ON SCHEMA empty_" + schema + " TO " + role)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Exec("DROP SCHEMA empty_" + schema + " CASCADE") })
	db, err := sql.Open("pgx", withUser(t, strings.Replace(owner, "search_path="+schema, "search_path=empty_"+schema, 1), role))
	require.NoError(t, err)
	defer db.Close()
	_, err = sqlstore.Open(ctx, db)
	assert.ErrorContains(t, err, "permission denied", "the real cause")
}

func withUser(t *testing.T, dsn, user string) string {
	t.Helper()
	at := strings.Index(dsn, "@")
	require.Positive(t, at, "a DSN with a user: %s", dsn)
	return "postgres://" + user + dsn[at:]
}

// TestTamperedRows changes a stored session's rows outside the store: every read
// returns an error naming the session and the column, none panics or returns another
// session.
func TestTamperedRows(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		other := session.New("openai", session.WithName("other"))
		require.NoError(t, st.Commit(ctx, session.Session{}, other))
		otherHeader := string(must(storage.Header(other)))
		for _, tt := range []struct {
			name, set, column string
		}{
			{"negative count", "UPDATE sqlstore_sessions SET message_count = -1", "message_count"},
			{"huge count", "UPDATE sqlstore_sessions SET message_count = 4000000000000", "message_count"},
			{"count too high", "UPDATE sqlstore_sessions SET message_count = 3", "message_count or sqlstore_messages.seq"},
			{"empty header", "UPDATE sqlstore_sessions SET header = ''", "header"},
			{"not JSON", "UPDATE sqlstore_sessions SET header = '{not json'", "header"},
			{"another session's header", "UPDATE sqlstore_sessions SET header = '" + otherHeader + "'", "header"},
			{"other name in header", "UPDATE sqlstore_sessions SET header = replace(header, '\"name\":null', '\"name\":\"x\"')", "version"},
			{"version", "UPDATE sqlstore_sessions SET version = 'v'", "version"},
			{"body", "UPDATE sqlstore_messages SET body = '{\"role\":\"user\",\"content\":\"changed\"}'", "version"},
			{"body not JSON", "UPDATE sqlstore_messages SET body = 'garbage'", "sqlstore_messages.body"},
			{"seq", "UPDATE sqlstore_messages SET seq = seq + 5", "message_count or sqlstore_messages.seq"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := session.New("openai").AddMessage("user", "hi").AddMessage("assistant", "hello")
				require.NoError(t, st.Commit(ctx, session.Session{}, s))
				set := tt.set + " WHERE id = '" + s.ID() + "'"
				if strings.Contains(tt.set, "sqlstore_messages") {
					set = tt.set + " WHERE session_id = '" + s.ID() + "'"
				}
				_, err := db.Exec(set)
				require.NoError(t, err)
				_, err = st.Load(ctx, s.ID())
				require.Error(t, err)
				assert.Contains(t, err.Error(), s.ID())
				assert.Contains(t, err.Error(), "column "+tt.column)
				_, err = st.Messages(ctx, s.ID(), 0, 10)
				if strings.Contains(tt.set, "count") || strings.Contains(tt.set, "seq") || strings.Contains(tt.name, "body not") {
					assert.Error(t, err, "Messages")
				}
				for _, err := range st.List(ctx, sqlstore.ListOptions{}) {
					if err != nil {
						assert.Contains(t, err.Error(), "column")
					}
				}
				require.NoError(t, st.Delete(ctx, s.ID()))
			})
		}
	})
}

// TestErrorsAServerCanMap checks the errors of bad IDs, bad cursors and ended contexts.
func TestErrorsAServerCanMap(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		long := strings.Repeat("x", 1<<20)
		for _, id := range []string{"\xff", "a\x00b", long, ""} {
			_, err := st.Load(ctx, id)
			assert.ErrorIs(t, err, sqlstore.ErrNotFound, "Load %.20q", id)
			assert.Less(t, len(err.Error()), 200)
			_, err = st.Messages(ctx, id, 0, 1)
			assert.ErrorIs(t, err, sqlstore.ErrNotFound, "Messages %.20q", id)
			assert.ErrorIs(t, st.Delete(ctx, id), sqlstore.ErrNotFound, "Delete %.20q", id)
			if id == "" || id == "\xff" { // FromJSON reads "\xff" as U+FFFD, a valid ID
				continue
			}
			s, err := session.FromJSON([]byte(`{"id":` + string(must(jsonString(id))) + `,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`))
			require.NoError(t, err)
			err = st.Commit(ctx, session.Session{}, s)
			assert.ErrorIs(t, err, sqlstore.ErrInvalidID, "Commit %.20q", id)
			assert.Less(t, len(err.Error()), 200)
		}
		for _, cursor := range []string{"garbage!", "MTIz", "MTIzIP8"} {
			for _, err := range st.List(ctx, sqlstore.ListOptions{After: cursor}) {
				assert.ErrorIs(t, err, sqlstore.ErrBadCursor, cursor)
			}
		}

		// A commit cut by its deadline at any point fails with an error that says so.
		base := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, base))
		next := base
		for i := range 2000 {
			next = next.AddMessage("user", fmt.Sprintf("%d: %0100d", i, i))
		}
		failures := 0
		for d := 50 * time.Microsecond; d < 50*time.Millisecond; d += d / 3 {
			deadline, cancel := context.WithTimeout(ctx, d)
			err := st.Commit(deadline, base, next)
			cancel()
			if err == nil {
				break
			}
			failures++
			require.ErrorIs(t, err, context.DeadlineExceeded, "after %v", d)
		}
		assert.Positive(t, failures)
	})
}

func jsonString(s string) ([]byte, error) {
	// Encoded by hand: encoding/json would replace the invalid bytes, which the tests
	// want the decoder to see as they are only where it keeps them.
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			b.WriteString(`\u0000`)
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	if b.Len() == 0 {
		return nil, errors.New("empty")
	}
	return []byte(b.String()), nil
}
