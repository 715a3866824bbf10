package sqlstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

func TestForOwner(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		alice, bob := st.ForOwner("alice"), st.ForOwner("bob")
		a := session.New("openai").AddMessage("user", "alice's")
		b := session.New("openai").AddMessage("user", "bob's")
		none := session.New("openai").AddMessage("user", "nobody's")
		require.NoError(t, alice.Commit(ctx, session.Session{}, a))
		require.NoError(t, bob.Commit(ctx, session.Session{}, b))
		require.NoError(t, st.Commit(ctx, session.Session{}, none))

		for _, view := range []*sqlstore.Store{bob} {
			_, err := view.Load(ctx, a.ID())
			assert.ErrorIs(t, err, sqlstore.ErrNotFound)
			_, err = view.LoadRecent(ctx, a.ID(), 1)
			assert.ErrorIs(t, err, sqlstore.ErrNotFound)
			_, err = view.Info(ctx, a.ID())
			assert.ErrorIs(t, err, sqlstore.ErrNotFound)
			_, err = view.Messages(ctx, a.ID(), 0, 10)
			assert.ErrorIs(t, err, sqlstore.ErrNotFound)
			assert.ErrorIs(t, view.Commit(ctx, a, a.AddMessage("user", "intruder")), sqlstore.ErrNotFound)
			assert.ErrorIs(t, view.Delete(ctx, a.ID()), sqlstore.ErrNotFound)
			_, err = view.Update(ctx, a.ID(), func(s session.Session) (session.Session, error) { return s.SetName("x"), nil })
			assert.ErrorIs(t, err, sqlstore.ErrNotFound)
		}
		_, err := alice.Load(ctx, none.ID())
		assert.ErrorIs(t, err, sqlstore.ErrNotFound, "no owner's view sees a session of no owner")

		loaded, err := alice.Load(ctx, a.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(a))
		info, err := alice.Info(ctx, a.ID())
		require.NoError(t, err)
		assert.Equal(t, "alice", info.Owner)
		assert.Equal(t, 1, info.Len)
		info, err = st.Info(ctx, none.ID())
		require.NoError(t, err)
		assert.Equal(t, "", info.Owner)

		ids := func(view *sqlstore.Store) []string {
			var out []string
			for info, err := range view.List(ctx, sqlstore.ListOptions{}) {
				require.NoError(t, err)
				out = append(out, info.ID)
			}
			return out
		}
		assert.Equal(t, []string{a.ID()}, ids(alice))
		assert.Equal(t, []string{b.ID()}, ids(bob))
		assert.ElementsMatch(t, []string{a.ID(), b.ID(), none.ID()}, ids(st), "the store sees all")

		next := loaded.AddMessage("assistant", "hi")
		require.NoError(t, alice.Commit(ctx, loaded, next))
		require.NoError(t, st.Commit(ctx, next, next.SetName("by the store")), "the store sees and commits all")
		info, err = alice.Info(ctx, a.ID())
		require.NoError(t, err)
		assert.Equal(t, "alice", info.Owner, "and keeps the owner")
		assert.Equal(t, "by the store", info.Name)
	})
}

func TestListOfAnOwnerPages(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		alice := st.ForOwner("alice")
		var want []string
		for i := range 12 {
			s := session.New("").AddMessage("user", fmt.Sprint(i))
			require.NoError(t, alice.Commit(ctx, session.Session{}, s))
			require.NoError(t, st.ForOwner("bob").Commit(ctx, session.Session{}, session.New("")))
			want = append([]string{s.ID()}, want...)
		}
		var got []string
		after := ""
		for {
			n := 0
			for info, err := range alice.List(ctx, sqlstore.ListOptions{Limit: 5, After: after}) {
				require.NoError(t, err)
				got = append(got, info.ID)
				after = info.Cursor()
				n++
			}
			if n < 5 {
				break
			}
		}
		assert.Equal(t, want, got)
	})
}

func TestPrune(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		old, err := session.FromJSON([]byte(`{"id":"old-alice","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		oldBob, err := session.FromJSON([]byte(`{"id":"old-bob","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		require.NoError(t, st.ForOwner("alice").Commit(ctx, session.Session{}, old))
		require.NoError(t, st.ForOwner("bob").Commit(ctx, session.Session{}, oldBob))
		fresh := session.New("").AddMessage("user", "hi")
		require.NoError(t, st.ForOwner("alice").Commit(ctx, session.Session{}, fresh))
		for i := range 250 {
			s, err := session.FromJSON([]byte(fmt.Sprintf(`{"id":"many-%d","created_at":"2021-01-01T00:00:00Z","updated_at":"2021-01-01T00:00:00Z",
				"messages":[{"role":"user","content":"x","timestamp":"2021-01-01T00:00:00Z"}]}`, i)))
			require.NoError(t, err)
			require.NoError(t, st.Commit(ctx, session.Session{}, s))
		}
		cut := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
		n, err := st.ForOwner("alice").Prune(ctx, cut)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "alice's old session only")
		_, err = st.Load(ctx, "old-bob")
		assert.NoError(t, err)
		n, err = st.Prune(ctx, cut)
		require.NoError(t, err)
		assert.Equal(t, 251, n, "in batches")
		_, err = st.Load(ctx, fresh.ID())
		assert.NoError(t, err, "a session updated since stays")
		var rows int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlstore_messages WHERE session_id <> '"+fresh.ID()+"'").Scan(&rows))
		assert.Zero(t, rows, "their messages are gone")
	})
}

// TestUpdate runs Update from 8 goroutines on one session, 25 changes each: every change
// is there exactly once.
func TestUpdate(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		const writers, changes = 8, 25
		var wg sync.WaitGroup
		errs := make([]error, writers)
		var names []string
		for w := range writers {
			names = append(names, fmt.Sprint("u", w))
		}
		for w, name := range names {
			wg.Go(func() {
				for i := range changes {
					tag := fmt.Sprintf("%s/%d", name, i)
					_, err := st.Update(ctx, s.ID(), func(s session.Session) (session.Session, error) {
						return s.AddMessage("user", tag).AddMessage("assistant", tag), nil
					}, sqlstore.WithMaxAttempts(1000))
					if err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		checkTurns(t, loaded, names, changes)

		// change's error ends it; a bound on the tries ends it with ErrConflict.
		oops := errors.New("oops")
		_, err = st.Update(ctx, s.ID(), func(session.Session) (session.Session, error) { return session.Session{}, oops })
		assert.Equal(t, oops, err)
		tries := 0
		_, err = st.Update(ctx, s.ID(), func(cur session.Session) (session.Session, error) {
			tries++
			require.NoError(t, st.Commit(ctx, cur, cur.SetName(fmt.Sprint("meanwhile ", tries))))
			return cur.AddMessage("user", "never"), nil
		}, sqlstore.WithMaxAttempts(3))
		assert.ErrorIs(t, err, sqlstore.ErrConflict)
		assert.Equal(t, 3, tries)
		got, err := st.Update(ctx, s.ID(), func(cur session.Session) (session.Session, error) { return cur.SetName("done"), nil })
		require.NoError(t, err)
		assert.Equal(t, "done", got.Name())
	})
}
