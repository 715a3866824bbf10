package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// TestInvalidOwnersFailClosed: a view of an owner no database could hold, the empty one
// first, answers every call with ErrInvalidOwner, on both databases alike, and reads
// or writes nothing: the sessions of no owner stay out of its reach.
func TestInvalidOwnersFailClosed(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		none := session.New("openai").AddMessage("user", "nobody's")
		require.NoError(t, st.Commit(ctx, session.Session{}, none))
		old, err := session.FromJSON([]byte(`{"id":"old","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		require.NoError(t, st.Commit(ctx, session.Session{}, old))

		for _, owner := range []string{"", "a\x00b", "caf\xc3", "\xff", strings.Repeat("o", sqlstore.MaxOwnerLength+1)} {
			view := st.ForOwner(owner)
			check := func(what string, err error) {
				t.Helper()
				assert.ErrorIs(t, err, sqlstore.ErrInvalidOwner, "%s for owner %q", what, owner)
				assert.NotErrorIs(t, err, sqlstore.ErrNotFound, "%s", what)
			}
			_, err := view.Load(ctx, none.ID())
			check("Load", err)
			_, err = view.Load(ctx, "missing")
			check("Load of a missing session", err)
			_, err = view.LoadRecent(ctx, none.ID(), 1)
			check("LoadRecent", err)
			_, err = view.Info(ctx, none.ID())
			check("Info", err)
			_, err = view.Messages(ctx, none.ID(), 0, 10)
			check("Messages", err)
			check("Commit", view.Commit(ctx, none, none.AddMessage("user", "intruder")))
			check("Commit of a new session", view.Commit(ctx, session.Session{}, session.New("")))
			check("Delete", view.Delete(ctx, none.ID()))
			_, err = view.Update(ctx, none.ID(), func(s session.Session) (session.Session, error) { return s.SetName("x"), nil })
			check("Update", err)
			n, err := view.Prune(ctx, time.Now().Add(time.Hour))
			check("Prune", err)
			assert.Zero(t, n)
			listed := 0
			for _, err := range view.List(ctx, sqlstore.ListOptions{}) {
				check("List", err)
				listed++
			}
			assert.Equal(t, 1, listed, "List yields its error alone")
		}
		for _, id := range []string{none.ID(), old.ID()} {
			loaded, err := st.Load(ctx, id)
			require.NoError(t, err, "nothing was deleted")
			assert.Equal(t, "", loaded.Name(), "nor changed")
		}
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlstore_sessions").Scan(&n))
		assert.Equal(t, 2, n, "nor created")

		// The longest valid owner, and owners of any valid text, work on both.
		for _, owner := range []string{strings.Repeat("ö", sqlstore.MaxOwnerLength/2), "a b/c?d'e\"f", "\u202e"} {
			view := st.ForOwner(owner)
			s := session.New("openai").AddMessage("user", "mine")
			require.NoError(t, view.Commit(ctx, session.Session{}, s))
			info, err := view.Info(ctx, s.ID())
			require.NoError(t, err)
			assert.Equal(t, owner, info.Owner)
			require.NoError(t, view.Delete(ctx, s.ID()))
		}
	})
}

// TestCorruptRowsAreErrCorrupt: what a row holds that the store did not write is
// ErrCorrupt, never ErrNotFound.
func TestCorruptRowsAreErrCorrupt(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("user", "hi").AddMessage("assistant", "hello")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		_, err := db.Exec("UPDATE sqlstore_messages SET body = '{\"role\":\"user\",\"content\":\"changed\"}' WHERE seq = 1")
		require.NoError(t, err)
		_, err = st.Load(ctx, s.ID())
		assert.ErrorIs(t, err, sqlstore.ErrCorrupt)
		assert.NotErrorIs(t, err, sqlstore.ErrNotFound)
		_, err = st.Load(ctx, "missing")
		assert.NotErrorIs(t, err, sqlstore.ErrCorrupt)
	})
}

// TestHugeCountsAllocateNothing: a message count of 2^31 written into a row makes
// Messages, Load and LoadRecent fail naming the column, without allocating for the
// messages the count claims (a fatal out-of-memory no recover catches).
func TestHugeCountsAllocateNothing(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("user", "hi").AddMessage("assistant", "hello")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		for _, count := range []int64{2147483648, math.MaxInt32, 1 << 30} {
			_, err := db.Exec(rebind(db, "UPDATE sqlstore_sessions SET message_count = ?"), count)
			require.NoError(t, err)
			_, err = st.Messages(ctx, s.ID(), 0, math.MaxInt)
			assert.ErrorIs(t, err, sqlstore.ErrCorrupt, "count %d", count)
			assert.ErrorContains(t, err, "message_count")
			_, err = st.Load(ctx, s.ID())
			assert.ErrorIs(t, err, sqlstore.ErrCorrupt)
			_, err = st.LoadRecent(ctx, s.ID(), 1)
			assert.ErrorIs(t, err, sqlstore.ErrCorrupt)
		}
	})
}

// TestLoadRecentProvesWhatItTrusts: LoadRecent reads the count of leading system
// messages and the tokens of the row before the messages it reads; a changed value of
// either is an error, never a session without its instructions nor a value committed
// onward, and the session loads again once the value is restored.
func TestLoadRecentProvesWhatItTrusts(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("system", "be brief").AddMessage("system", "be kind")
		for i := range 6 {
			s = s.AddMessage("user", strings.Repeat("q", i+1)).AddMessage("assistant", "a")
		}
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		for _, n := range []int{0, 1, 3} {
			// Counts lowered, and raised.
			for _, count := range []int{0, 1, 3} {
				_, err := db.Exec(rebind(db, "UPDATE sqlstore_sessions SET system_count = ?"), count)
				require.NoError(t, err)
				_, err = st.LoadRecent(ctx, s.ID(), n)
				assert.ErrorIs(t, err, sqlstore.ErrCorrupt, "system_count %d, n %d", count, n)
				assert.ErrorContains(t, err, "system_count")
			}
			_, err := db.Exec("UPDATE sqlstore_sessions SET system_count = 2")
			require.NoError(t, err)
			p, err := st.LoadRecent(ctx, s.ID(), n)
			require.NoError(t, err)
			w := p.Window(1000, session.EstimateTokens, session.KeepSystem())
			require.GreaterOrEqual(t, len(w), 2)
			assert.Equal(t, []string{"be brief", "be kind"}, []string{w[0].Content, w[1].Content})

			// The tokens of the row before the tail.
			before := s.Len() - n - 1
			var tokens int64
			require.NoError(t, db.QueryRow(rebind(db, "SELECT tokens FROM sqlstore_messages WHERE seq = ?"), before).Scan(&tokens))
			_, err = db.Exec(rebind(db, "UPDATE sqlstore_messages SET tokens = ? WHERE seq = ?"), tokens+1000, before)
			require.NoError(t, err)
			_, err = st.LoadRecent(ctx, s.ID(), n)
			assert.ErrorIs(t, err, sqlstore.ErrCorrupt, "n %d", n)
			_, err = st.Update(ctx, s.ID(), func(s session.Session) (session.Session, error) {
				return s.AddMessage("user", "never committed"), nil
			}, sqlstore.WithRecent(n))
			assert.ErrorIs(t, err, sqlstore.ErrCorrupt)
			_, err = db.Exec(rebind(db, "UPDATE sqlstore_messages SET tokens = ? WHERE seq = ?"), tokens, before)
			require.NoError(t, err)
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err, "restored, the session loads")
			assert.True(t, loaded.Equal(s))
		}
	})
}

// TestPartialBaseAddsASystemMessage: a partial base truncated to its first held message
// that adds a system message there: the count of leading system messages the commit
// records takes both, and a later LoadRecent sends both in order.
func TestPartialBaseAddsASystemMessage(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("system", "first").AddMessage("user", "q").AddMessage("assistant", "a")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		p, err := st.LoadRecent(ctx, s.ID(), 2)
		require.NoError(t, err)
		require.Equal(t, 1, p.FirstIndex())
		next := p.Truncate(1).AddMessage("system", "second").AddMessage("user", "again")
		require.NoError(t, st.Commit(ctx, p, next))
		q, err := st.LoadRecent(ctx, s.ID(), 1)
		require.NoError(t, err)
		w := q.Window(1000, session.EstimateTokens, session.KeepSystem())
		var got []string
		for _, m := range w {
			got = append(got, m.Role+":"+m.Content)
		}
		assert.Equal(t, []string{"system:first", "system:second", "user:again"}, got)
		whole, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, whole.Equal(next))
	})
}

// TestDeleteThenCreateAnew: a session deleted and created again under the same ID
// starts afresh: its turns commit, and nothing of the deleted one is taken for it.
func TestDeleteThenCreateAnew(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		prev := s
		for i := range 5 {
			next := prev.AddMessage("user", strings.Repeat("x", i+1))
			require.NoError(t, st.Commit(ctx, prev, next))
			prev = next
		}
		require.NoError(t, st.Delete(ctx, s.ID()))
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlstore_versions").Scan(&n))
		assert.Zero(t, n, "the deleted session's versions are gone")

		again := s.SetName("again")
		require.NoError(t, st.Commit(ctx, session.Session{}, again))
		cur := again
		for i := range 5 {
			next := cur.AddMessage("assistant", strings.Repeat("y", i+1))
			require.NoError(t, st.Commit(ctx, cur, next), "turn %d of the new session", i)
			cur = next
		}
		// A retry of one of the deleted session's commits is not taken as made.
		assert.ErrorIs(t, st.Commit(ctx, s, s.AddMessage("user", "x")), sqlstore.ErrConflict)
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(cur))
	})
}

// TestPruneKeepsWhatACommitRenewed: a session that a commit renews while Prune waits
// for its row is kept. On PostgreSQL, a transaction holds the row, as a commit does,
// until Prune waits for it; on SQLite, writers take turns, and the commit comes first.
func TestPruneKeepsWhatACommitRenewed(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		alice := st.ForOwner("alice")
		old, err := session.FromJSON([]byte(`{"id":"old","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		require.NoError(t, alice.Commit(ctx, session.Session{}, old))
		oldToo, err := session.FromJSON([]byte(`{"id":"old-too","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		require.NoError(t, alice.Commit(ctx, session.Session{}, oldToo))
		cut := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

		renewed := time.Now().UnixMicro()
		if !isPostgres(db) {
			_, err := db.Exec("UPDATE sqlstore_sessions SET updated_us = ? WHERE id = 'old'", renewed)
			require.NoError(t, err)
			n, err := alice.Prune(ctx, cut)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		} else {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = tx.Exec("UPDATE sqlstore_sessions SET updated_us = $1 WHERE id = 'old'", renewed)
			require.NoError(t, err)
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := alice.Prune(ctx, cut)
				done <- result{n, err}
			}()
			waitForALockWait(t, db)
			require.NoError(t, tx.Commit())
			r := <-done
			require.NoError(t, r.err)
			assert.Equal(t, 1, r.n, "the renewed session is kept")
		}
		_, err = alice.Load(ctx, "old")
		assert.NoError(t, err, "the renewed session is kept")
		_, err = alice.Load(ctx, "old-too")
		assert.ErrorIs(t, err, sqlstore.ErrNotFound)
	})
}

// TestPruneNeverCrossesOwners: while alice's Prune waits for the row of her old
// session, the session is deleted and bob creates one of the same ID: Prune deletes
// nothing of bob's.
func TestPruneNeverCrossesOwners(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		if !isPostgres(db) {
			t.Skip("SQLite's writers take turns: no Prune waits for a row")
		}
		alice := st.ForOwner("alice")
		old, err := session.FromJSON([]byte(`{"id":"same","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		require.NoError(t, alice.Commit(ctx, session.Session{}, old))
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		// What alice's Delete and bob's old session of the same ID write, in one
		// transaction that holds the row.
		_, err = tx.Exec("UPDATE sqlstore_sessions SET owner = 'bob' WHERE id = 'same'")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := alice.Prune(ctx, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC))
			done <- err
		}()
		waitForALockWait(t, db)
		require.NoError(t, tx.Commit())
		require.NoError(t, <-done)
		_, err = st.ForOwner("bob").Load(ctx, "same")
		assert.NoError(t, err, "bob's session stays")
	})
}

// waitForALockWait waits until a connection of db waits for a row lock.
func waitForALockWait(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&n))
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no connection waited for the row")
}

// cutContext is a context that ends after its Done or Err was asked for a given number
// of times: a call given one ends at every step it checks its context, one step further
// each time.
type cutContext struct {
	context.Context
	mu   sync.Mutex
	left int
	done chan struct{}
}

func newCutContext(steps int) *cutContext {
	return &cutContext{Context: context.Background(), left: steps, done: make(chan struct{})}
}

func (c *cutContext) step() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left == 0 {
		return true
	}
	c.left--
	if c.left == 0 {
		close(c.done)
		return true
	}
	return false
}

func (c *cutContext) Done() <-chan struct{} {
	c.step()
	return c.done
}

func (c *cutContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// TestEveryCallCutByItsContext: a call whose context ends at any step of its work
// returns an error that matches the context's, whatever the driver says of the cut.
func TestEveryCallCutByItsContext(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		// Each call on a session of its own, made anew for each try: every try does the
		// same work, and is cut one step further.
		var s session.Session
		fresh := func() error {
			s = session.New("openai").AddMessage("user", "hi")
			return st.Commit(context.Background(), session.Session{}, s)
		}
		calls := map[string]func(ctx context.Context) error{
			"Load":       func(ctx context.Context) error { _, err := st.Load(ctx, s.ID()); return err },
			"LoadRecent": func(ctx context.Context) error { _, err := st.LoadRecent(ctx, s.ID(), 1); return err },
			"Messages":   func(ctx context.Context) error { _, err := st.Messages(ctx, s.ID(), 0, 9); return err },
			"Info":       func(ctx context.Context) error { _, err := st.Info(ctx, s.ID()); return err },
			"List": func(ctx context.Context) error {
				for _, err := range st.List(ctx, sqlstore.ListOptions{Limit: 3}) {
					if err != nil {
						return err
					}
				}
				return nil
			},
			"Commit": func(ctx context.Context) error { return st.Commit(ctx, s, s.AddMessage("user", "more")) },
			"Update": func(ctx context.Context) error {
				_, err := st.Update(ctx, s.ID(), func(s session.Session) (session.Session, error) {
					return s.AddMessage("user", "more"), nil
				})
				return err
			},
			"Prune": func(ctx context.Context) error {
				_, err := st.Prune(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
				return err
			},
			"Delete": func(ctx context.Context) error { return st.Delete(ctx, s.ID()) },
		}
		for name, call := range calls {
			cuts := 0
			for steps := 1; ; steps++ {
				require.Less(t, steps, 2000, "%s never ends", name)
				require.NoError(t, fresh())
				c := newCutContext(steps)
				err := call(c)
				if c.Err() == nil {
					require.NoError(t, err, name)
					break
				}
				if err != nil {
					cuts++
					assert.True(t, errors.Is(err, context.Canceled), "%s cut at step %d: %v", name, steps, err)
				}
			}
			assert.Positive(t, cuts, "%s was cut", name)
		}
	})
}

// isPostgres reports whether db is a PostgreSQL database.
func isPostgres(db *sql.DB) bool {
	var v string
	return db.QueryRow("SELECT current_setting('server_version')").Scan(&v) == nil
}

// rebind writes query's ? placeholders as db's database wants them.
func rebind(db *sql.DB, query string) string {
	if !isPostgres(db) {
		return query
	}
	for i := 1; strings.Contains(query, "?"); i++ {
		query = strings.Replace(query, "?", "$"+string(rune('0'+i)), 1)
	}
	return query
}

// TestNilUpdateOptionPanics: a nil option is a mistake, not no option.
func TestNilUpdateOptionPanics(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		assert.PanicsWithValue(t, "sqlstore: a nil UpdateOption", func() {
			st.Update(ctx, "x", func(s session.Session) (session.Session, error) { return s, nil }, nil)
		})
	})
}
