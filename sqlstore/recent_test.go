package sqlstore_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

func TestLoadRecent(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		whole := futureSession(t)
		for i := range 10 {
			whole = whole.AddMessage("user", fmt.Sprint("m", i), session.WithUsage(session.TokenUsage{InputTokens: 1}))
		}
		require.NoError(t, st.Commit(ctx, session.Session{}, whole))
		for _, n := range []int{-1, 0, 1, 3, 10, 20} {
			part, err := st.LoadRecent(ctx, whole.ID(), n)
			require.NoError(t, err, "n=%d", n)
			first := min(max(10-n, 0), 10)
			assert.Equal(t, 10, part.Len(), "n=%d", n)
			assert.Equal(t, first, part.FirstIndex(), "n=%d", n)
			assert.True(t, part.Equal(whole), "n=%d", n)
			assert.Equal(t, whole.TokenUsage(), part.TokenUsage())
			assert.Equal(t, whole.GetMessages(0)[first:], part.GetMessages(0), "n=%d", n)
		}

		// A turn committed after 3 messages is the whole session's turn.
		part, err := st.LoadRecent(ctx, whole.ID(), 3)
		require.NoError(t, err)
		at := time.Unix(1, 0)
		next := part.AddMessage("user", "q", session.WithTimestamp(at)).AddMessage("assistant", "a", session.WithTimestamp(at))
		require.NoError(t, st.Commit(ctx, part, next))
		wholeNext := whole.AddMessage("user", "q", session.WithTimestamp(at)).AddMessage("assistant", "a", session.WithTimestamp(at))
		loaded, err := st.Load(ctx, whole.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(wholeNext))
		assert.ErrorIs(t, st.Commit(ctx, part, part.SetName("stale")), sqlstore.ErrConflict, "a partial base is checked as a whole one")

		// It cannot be cut before what it holds; cut to nothing, it is whole again.
		part, err = st.LoadRecent(ctx, whole.ID(), 3)
		require.NoError(t, err)
		assert.Panics(t, func() { part.Truncate(5) })
		loaded, err = st.Load(ctx, whole.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(wholeNext))

		_, err = st.LoadRecent(ctx, "nope", 3)
		assert.ErrorIs(t, err, sqlstore.ErrNotFound)
	})
}

// recentChange applies a random change that a partial session whose first message is
// floor supports; contents and timestamps come from small sets.
func recentChange(r *rand.Rand, s session.Session, floor int) session.Session {
	words := []string{"hi", "ok", "caf\xc3", "\xff"}
	word := func() string { return words[r.IntN(len(words))] }
	at := time.Unix(int64(r.IntN(2)), 0)
	switch r.IntN(20) {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		return s.AddMessage("user", word(), session.WithTimestamp(at)).
			AddMessage("assistant", word(), session.WithTimestamp(at), session.WithUsage(session.TokenUsage{OutputTokens: r.IntN(3)}))
	case 8, 9:
		return s.AddMessage("tool", word(), session.WithTimestamp(at), session.WithExtra("tool_call_id", word()))
	case 10, 11, 12:
		return s.Truncate(floor + r.IntN(s.Len()-floor+1))
	case 13:
		return s.SetName(word())
	case 14:
		return s.SetContext(map[string]any{word(): word()})
	case 15:
		return s.UpdateTokenUsage(session.TokenUsage{InputTokens: r.IntN(2)})
	case 16:
		return s.ClearMessages()
	case 17:
		return s.Summarize(r.IntN(s.Len()+1), word())
	default:
		return s
	}
}

// TestRecentCommitsAsWhole is the property test of partial sessions in the store: a
// session loaded with LoadRecent, changed by random operations and committed, leaves the
// store Equal to the whole session changed the same way.
func TestRecentCommitsAsWhole(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		r := rand.New(rand.NewPCG(11, 12))
		whole := futureSession(t) // every change 1us later, whatever the clock
		require.NoError(t, st.Commit(ctx, session.Session{}, whole))
		rounds := 150
		if testing.Short() {
			rounds = 30
		}
		partial := 0
		for round := range rounds {
			part, err := st.LoadRecent(ctx, whole.ID(), r.IntN(6))
			require.NoError(t, err)
			if part.FirstIndex() > 0 {
				partial++
			}
			require.True(t, part.Equal(whole), "round %d", round)
			next, wholeNext := part, whole
			floor := part.FirstIndex()
			for range 1 + r.IntN(3) {
				seed := r.Uint64()
				next = recentChange(rand.New(rand.NewPCG(seed, 0)), next, floor)
				wholeNext = recentChange(rand.New(rand.NewPCG(seed, 0)), wholeNext, floor)
				floor = min(floor, next.Len())
				if next.FirstIndex() == 0 {
					floor = 0
				}
			}
			require.NoError(t, st.Commit(ctx, part, next), "round %d", round)
			loaded, err := st.Load(ctx, whole.ID())
			require.NoError(t, err)
			require.True(t, loaded.Equal(wholeNext), "round %d: the store holds another session", round)
			whole = loaded
		}
		t.Logf("%d rounds, %d from a partial session; the session ends with %d messages", rounds, partial, whole.Len())
		assert.Greater(t, partial, rounds/2)
	})
}

// TestTamperedChains checks that a prefix changed outside the store is found by
// LoadRecent where it relies on it (the row before the messages it reads), and by Load
// in every row; a row added after the last message is an error, or, where the read
// takes only the places the count says, unseen: never a wrong session.
func TestTamperedChains(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		for _, tt := range []struct {
			name, set, column string
			recent            bool
		}{
			{"before the recent messages", "chain = (SELECT chain FROM sqlstore_messages WHERE seq = 0 AND session_id = '%s') WHERE seq = 2", "version", true},
			{"NULL before the recent messages", "chain = NULL WHERE seq = 2", "sqlstore_messages.chain or tokens", true},
			{"negative tokens", "tokens = -1 WHERE seq = 2", "sqlstore_messages.chain or tokens", true},
			{"read whole", "chain = NULL WHERE seq = 1", "sqlstore_messages.chain or tokens", false},
			{"tokens, read whole", "tokens = tokens + 1 WHERE seq = 4", "sqlstore_messages.chain or tokens", false},
			{"a row after the last", "INSERT INTO sqlstore_messages (session_id, seq, body, chain, tokens) SELECT session_id, 6, body, chain, tokens FROM sqlstore_messages WHERE seq = 0 AND session_id = '%s'", "message_count or sqlstore_messages.seq", true},
			{"a row after the last, read whole", "INSERT INTO sqlstore_messages (session_id, seq, body, chain, tokens) SELECT session_id, 9, body, chain, tokens FROM sqlstore_messages WHERE seq = 0 AND session_id = '%s'", "message_count or sqlstore_messages.seq", false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := session.New("openai")
				for i := range 6 {
					s = s.AddMessage("user", fmt.Sprint(i))
				}
				require.NoError(t, st.Commit(ctx, session.Session{}, s))
				set := tt.set
				if strings.Contains(set, "%s") {
					set = fmt.Sprintf(set, s.ID())
				}
				stmt := "UPDATE sqlstore_messages SET " + set + " AND session_id = '" + s.ID() + "'"
				if strings.HasPrefix(set, "INSERT") {
					stmt = set
				}
				_, err := db.Exec(stmt)
				require.NoError(t, err)
				var loaded session.Session
				if tt.recent {
					loaded, err = st.LoadRecent(ctx, s.ID(), 3)
				} else {
					loaded, err = st.Load(ctx, s.ID())
				}
				if strings.HasPrefix(set, "INSERT") && err == nil {
					// A row after the last is no message of the session: a read of the
					// places the count says (SQLite's) does not see it, and gives the session.
					assert.True(t, loaded.Equal(s))
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), "column "+tt.column)
				assert.Contains(t, err.Error(), s.ID())
			})
		}
	})
}

// TestUpdateFromGoroutinesAndProcesses runs Update on one session from 8 goroutines and
// 4 processes, 25 changes each, loading 4 messages: every change is present once, in
// each writer's order, none lost, with the default number of tries.
func TestUpdateFromGoroutinesAndProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dsn, st, s := storedSession(t, b)
			const goroutines, processes, changes = 8, 4, 25
			var names []string
			var children []*exec.Cmd
			var stderrs []*bytes.Buffer
			for p := range processes {
				name := fmt.Sprint("p", p)
				names = append(names, name)
				cmd, stderr := startChild(t, b, dsn, s.ID(), name, fmt.Sprint(changes), childUpdate+"=1")
				children = append(children, cmd)
				stderrs = append(stderrs, stderr)
			}
			var wg sync.WaitGroup
			errs := make([]error, goroutines)
			conflicts := make([]int, goroutines)
			for g := range goroutines {
				name := fmt.Sprint("g", g)
				names = append(names, name)
				wg.Go(func() { conflicts[g], errs[g] = updateTurns(st, s.ID(), name, changes) })
			}
			wg.Wait()
			for i, cmd := range children {
				require.NoError(t, cmd.Wait(), "child %d: %s", i, stderrs[i])
			}
			for _, err := range errs {
				require.NoError(t, err)
			}
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			checkTurns(t, loaded, names, changes)
			total := 0
			for _, c := range conflicts {
				total += c
			}
			t.Logf("%d goroutines and %d processes, %d changes each: the goroutines' changes ran again %d times", goroutines, processes, changes, total)
		})
	}
}

// TestUpdateRebaseAppends checks that with RebaseAppends a turn's change runs once,
// however many writers commit first, and that every turn is kept.
func TestUpdateRebaseAppends(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		const writers, changes = 8, 15
		var names []string
		for w := range writers {
			names = append(names, fmt.Sprint("w", w))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		calls, errs := 0, []error{}
		for _, name := range names {
			wg.Go(func() {
				for i := range changes {
					tag := fmt.Sprintf("%s/%d", name, i)
					_, err := st.Update(ctx, s.ID(), func(s session.Session) (session.Session, error) {
						mu.Lock()
						calls++
						mu.Unlock()
						return s.AddMessage("user", tag).AddMessage("assistant", tag, session.WithUsage(session.TokenUsage{OutputTokens: 1})), nil
					}, sqlstore.WithRecent(2), sqlstore.RebaseAppends(), sqlstore.WithMaxAttempts(200))
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		require.Empty(t, errs)
		assert.Equal(t, writers*changes, calls, "each turn's change ran once")
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		checkTurns(t, loaded, names, changes)
		assert.Equal(t, writers*changes, loaded.TokenUsage().OutputTokens)
	})
}

// TestUpdateManyClientsFewSessions runs 10 clients on 3 sessions with Update's defaults:
// no request gives up.
func TestUpdateManyClientsFewSessions(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		var ids []string
		for range 3 {
			s := session.New("openai")
			require.NoError(t, st.Commit(ctx, session.Session{}, s))
			ids = append(ids, s.ID())
		}
		const clients, requests = 10, 20
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for c := range clients {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(c), 3))
				for i := range requests {
					tag := fmt.Sprintf("c%d/%d", c, i)
					_, err := st.Update(ctx, ids[r.IntN(len(ids))], func(s session.Session) (session.Session, error) {
						return s.AddMessage("user", tag).AddMessage("assistant", tag), nil
					}, sqlstore.WithRecent(10))
					if err != nil {
						errs[c] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		seen := map[string]int{}
		for _, id := range ids {
			s, err := st.Load(ctx, id)
			require.NoError(t, err)
			msgs := s.GetMessages(0)
			for i := 0; i < len(msgs); i += 2 {
				require.Equal(t, msgs[i].Content, msgs[i+1].Content)
				seen[msgs[i].Content]++
			}
		}
		assert.Len(t, seen, clients*requests)
		for tag, n := range seen {
			assert.Equal(t, 1, n, tag)
		}
	})
}

// TestLoadRecentKeepsTheInstructions checks that a partial session from LoadRecent
// holds the session's leading system messages, proven by their rows' chain digests, so
// that KeepSystem sends them; that commits keep their count, which a tampered row breaks.
func TestLoadRecentKeepsTheInstructions(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		count := func(m session.Message) int { return len(m.Content) }
		systemCount := func(id string) (n int) {
			q := "SELECT system_count FROM sqlstore_sessions WHERE id = '" + id + "'"
			require.NoError(t, db.QueryRow(q).Scan(&n))
			return n
		}
		for _, system := range []int{0, 1, 2, 3} {
			s := session.New("openai")
			for i := range system {
				s = s.AddMessage("system", fmt.Sprint("rule", i))
			}
			for i := range 15 {
				s = s.AddMessage("user", fmt.Sprint("q", i)).AddMessage("assistant", fmt.Sprint("a", i))
			}
			require.NoError(t, st.Commit(ctx, session.Session{}, s))
			assert.Equal(t, system, systemCount(s.ID()))
			for _, n := range []int{0, 1, 4, 29, 30 - system + 1, 30, 40} {
				part, err := st.LoadRecent(ctx, s.ID(), n)
				require.NoError(t, err, "system %d n %d", system, n)
				for i := range system {
					assert.Equal(t, fmt.Sprint("rule", i), part.MessageAt(i).Content)
				}
				whole := s.Window(5*system+2*3, count, session.KeepSystem())
				if len(whole) <= system+n {
					assert.Equal(t, contents(whole), contents(part.Window(5*system+2*3, count, session.KeepSystem())), "system %d n %d", system, n)
				}
			}
			// A turn from a partial base keeps the count; a whole change recounts.
			part, err := st.LoadRecent(ctx, s.ID(), 2)
			require.NoError(t, err)
			next := part.AddMessage("user", "more").AddMessage("assistant", "sure")
			require.NoError(t, st.Commit(ctx, part, next))
			assert.Equal(t, system, systemCount(s.ID()))
			whole, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			cleared := whole.ClearMessages().AddMessage("system", "new rules").AddMessage("user", "hi")
			require.NoError(t, st.Commit(ctx, whole, cleared))
			assert.Equal(t, 1, systemCount(s.ID()))
			part, err = st.LoadRecent(ctx, s.ID(), 1)
			require.NoError(t, err)
			assert.Equal(t, []string{"new rules", "hi"}, contents(part.Window(100, nil, session.KeepSystem())))
		}

		// Tampered rows.
		for _, tt := range []struct{ name, set, column string }{
			{"a count too high", "UPDATE sqlstore_sessions SET system_count = 2 WHERE id = '%s'", "system_count"},
			{"a count past the messages", "UPDATE sqlstore_sessions SET system_count = 99 WHERE id = '%s'", "system_count"},
			{"the instructions changed", "UPDATE sqlstore_messages SET body = replace(body, 'rules', 'RULES') WHERE seq = 0 AND session_id = '%s'", "sqlstore_messages.body or chain"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := session.New("openai").AddMessage("system", "rules")
				for i := range 10 {
					s = s.AddMessage("user", fmt.Sprint("q", i))
				}
				require.NoError(t, st.Commit(ctx, session.Session{}, s))
				_, err := db.Exec(fmt.Sprintf(tt.set, s.ID()))
				require.NoError(t, err)
				_, err = st.LoadRecent(ctx, s.ID(), 3)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "column "+tt.column)
			})
		}
	})
}

func contents(msgs []session.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content
	}
	return out
}
