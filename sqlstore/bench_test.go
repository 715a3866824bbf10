package sqlstore_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// The benchmarks here come in pairs measured in one run of
//
//	go test -run '^$' -bench . -benchtime 1000x ./sqlstore
//
// with SQLSTORE_POSTGRES_DSN set to add PostgreSQL: a commit of one turn to a long and
// to a short session, that commit beside SaveToFile of the same long session, Load beside
// LoadFromFile, a page of List among many sessions, a stateless turn (LoadRecent,
// Window, Commit) on a long and a short session (in separate runs, and in turn in one
// run: BenchmarkStatelessTurnPair, whose ratio the README reports), and a page of one
// owner's sessions among 100,000 of other owners' and alone.

// conversation returns a session of n messages of about 300 bytes each.
func conversation(n int) session.Session {
	s := session.New("openai", session.WithName("bench"))
	for i := range n {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		s = s.AddMessage(role, fmt.Sprintf("%d: %0300d", i, i))
	}
	return s
}

// BenchmarkCommitTurn commits one turn (a user and an assistant message) to sessions of
// 10 and of 10,000 messages. The turns go round 20 sessions, so that a session grows by
// 2*b.N/20 messages in a run.
func BenchmarkCommitTurn(b *testing.B) {
	for _, be := range backends(b) {
		for _, n := range []int{10, 10_000} {
			b.Run(fmt.Sprintf("%s/%d", be.name, n), func(b *testing.B) {
				st, _ := open(b, be.driver, be.newDSN(b))
				sessions := make([]session.Session, 20)
				for i := range sessions {
					sessions[i] = conversation(n)
					require.NoError(b, st.Commit(ctx, session.Session{}, sessions[i]))
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					cur := sessions[i%len(sessions)]
					next := cur.AddMessage("user", "What time is it?").AddMessage("assistant", "Noon.")
					if err := st.Commit(ctx, cur, next); err != nil {
						b.Fatal(err)
					}
					sessions[i%len(sessions)] = next
					i++
				}
			})
		}
	}
}

// BenchmarkCommitAfterLargeMessage commits one short turn to a session whose earlier
// message is 1 KB, and one whose earlier message is 20 MB (a long tool result): the
// same work, since neither the store nor the session's digest reads the message again.
func BenchmarkCommitAfterLargeMessage(b *testing.B) {
	for _, be := range backends(b) {
		for _, size := range []int{1 << 10, 20 << 20} {
			b.Run(fmt.Sprintf("%s/%dB", be.name, size), func(b *testing.B) {
				st, _ := open(b, be.driver, be.newDSN(b))
				cur := conversation(10).AddMessage("tool", strings.Repeat("x", size), session.WithExtra("tool_call_id", "call_1"))
				require.NoError(b, st.Commit(ctx, session.Session{}, cur))
				b.ReportAllocs()
				for b.Loop() {
					next := cur.AddMessage("user", "And now?").AddMessage("assistant", "Done.")
					if err := st.Commit(ctx, cur, next); err != nil {
						b.Fatal(err)
					}
					cur = next
				}
			})
		}
	}
}

// BenchmarkSaveToFileTurn saves a 10,000-message session to its file after each turn,
// as an app without a store does: the baseline of BenchmarkCommitTurn.
func BenchmarkSaveToFileTurn(b *testing.B) {
	path := filepath.Join(b.TempDir(), "chat.json")
	s := conversation(10_000)
	b.ReportAllocs()
	for b.Loop() {
		s = s.AddMessage("user", "What time is it?").AddMessage("assistant", "Noon.")
		if err := s.SaveToFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad loads a session of 10,000 messages from the store, beside
// LoadFromFile of the same session.
func BenchmarkLoad(b *testing.B) {
	s := conversation(10_000)
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			st, _ := open(b, be.driver, be.newDSN(b))
			require.NoError(b, st.Commit(ctx, session.Session{}, s))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Load(ctx, s.ID()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "chat.json")
		require.NoError(b, s.SaveToFile(path))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := session.LoadFromFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkList reads the first page of 50 and a page far down the listing of 100,000
// sessions.
func BenchmarkList(b *testing.B) {
	const sessions = 100_000
	for _, be := range backends(b) {
		st, _ := open(b, be.driver, be.newDSN(b))
		var wg sync.WaitGroup
		const workers = 8
		for w := range workers {
			wg.Go(func() {
				for i := w; i < sessions; i += workers {
					s := session.New("openai", session.WithName(fmt.Sprint("chat ", i))).AddMessage("user", "hi")
					if err := st.Commit(ctx, session.Session{}, s); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		var deep string
		n := 0
		for info, err := range st.List(ctx, sqlstore.ListOptions{Limit: 90_000}) {
			require.NoError(b, err)
			if n++; n == 90_000 {
				deep = info.Cursor()
			}
		}
		for _, page := range []struct{ name, after string }{{"first", ""}, {"after-90000", deep}} {
			b.Run(be.name+"/"+page.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got := 0
					for _, err := range st.List(ctx, sqlstore.ListOptions{Limit: 50, After: page.after}) {
						if err != nil {
							b.Fatal(err)
						}
						got++
					}
					if got != 50 {
						b.Fatalf("%d sessions", got)
					}
				}
			})
		}
	}
}

// BenchmarkStatelessTurn serves a turn as a server that keeps nothing between requests
// does: LoadRecent of 40 messages, a Window of them, a user and an assistant message,
// Commit; on sessions of 10 and of 10,000 messages. The "whole" runs load the whole
// session instead, the baseline. The turns go round 20 sessions, each of which takes a
// turn every 20: run with -benchtime 200x, a short session holds 30 messages at most.
func BenchmarkStatelessTurn(b *testing.B) {
	for _, be := range backends(b) {
		for _, load := range []string{"recent", "whole"} {
			for _, n := range []int{10, 10_000} {
				b.Run(fmt.Sprintf("%s/%s/%d", be.name, load, n), func(b *testing.B) {
					st, db := open(b, be.driver, be.newDSN(b))
					ids := make([]string, 20)
					for i := range ids {
						s := conversation(n)
						require.NoError(b, st.Commit(ctx, session.Session{}, s))
						ids[i] = s.ID()
					}
					settle(b, be, db)
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						var base session.Session
						var err error
						if load == "recent" {
							base, err = st.LoadRecent(ctx, ids[i%len(ids)], 40)
						} else {
							base, err = st.Load(ctx, ids[i%len(ids)])
						}
						if err != nil {
							b.Fatal(err)
						}
						asked := base.AddMessage("user", "What time is it?")
						if len(asked.Window(8000, nil)) == 0 {
							b.Fatal("an empty window")
						}
						next := asked.AddMessage("assistant", "Noon.")
						if err := st.Commit(ctx, base, next); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		}
	}
}

// BenchmarkStatelessTurnPair is BenchmarkStatelessTurn for the long and the short
// sessions in one store and one run, a turn on each in turn, each timed apart: the
// machine's speed, which drifts from one run to the next, weighs alike on both. It
// reports the mean turn on each and their ratio; run it with -benchtime 200x, so that
// a short session holds 30 messages at most.
func BenchmarkStatelessTurnPair(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			st, db := open(b, be.driver, be.newDSN(b))
			ids := map[int][]string{}
			for _, n := range []int{10, 10_000} {
				for range 20 {
					s := conversation(n)
					require.NoError(b, st.Commit(ctx, session.Session{}, s))
					ids[n] = append(ids[n], s.ID())
				}
			}
			settle(b, be, db)
			turn := func(id string) time.Duration {
				start := time.Now()
				base, err := st.LoadRecent(ctx, id, 40)
				if err != nil {
					b.Fatal(err)
				}
				asked := base.AddMessage("user", "What time is it?")
				if len(asked.Window(8000, nil)) == 0 {
					b.Fatal("an empty window")
				}
				if err := st.Commit(ctx, base, asked.AddMessage("assistant", "Noon.")); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			var short, long time.Duration
			i := 0
			for b.Loop() {
				short += turn(ids[10][i%20])
				long += turn(ids[10_000][i%20])
				i++
			}
			b.ReportMetric(float64(short.Nanoseconds())/float64(i), "ns/short-turn")
			b.ReportMetric(float64(long.Nanoseconds())/float64(i), "ns/long-turn")
			b.ReportMetric(float64(long)/float64(short), "long/short")
		})
	}
}

// settle brings a database just loaded to the state it would be in after a while in
// use, so that the measurement does not include the database's own work on a bulk load:
// PostgreSQL's autovacuum of the new rows and its checkpoint writing them, SQLite's
// checkpoint of a long WAL, and the system's writeback of the files, which the first
// commits' flushes would otherwise wait for.
func settle(b *testing.B, be backend, db *sql.DB) {
	stmts := []string{"PRAGMA wal_checkpoint(TRUNCATE)"}
	if be.name == "postgres" {
		stmts = []string{"VACUUM (ANALYZE)", "CHECKPOINT"}
	}
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(b, err)
	}
	syncDisk()
	runtime.GC()
}

// BenchmarkListOwner reads the first page of 50 of one owner's 100 sessions, in a store
// that also holds 100,000 sessions of 1,000 other owners, and in one that holds the
// owner's alone.
func BenchmarkListOwner(b *testing.B) {
	for _, be := range backends(b) {
		for _, others := range []int{0, 100_000} {
			st, _ := open(b, be.driver, be.newDSN(b))
			var wg sync.WaitGroup
			const workers = 8
			for w := range workers {
				wg.Go(func() {
					for i := w; i < others+100; i += workers {
						owner := "alice"
						if i >= 100 {
							owner = fmt.Sprint("user", i%1000)
						}
						s := session.New("openai", session.WithName(fmt.Sprint("chat ", i))).AddMessage("user", "hi")
						if err := st.ForOwner(owner).Commit(ctx, session.Session{}, s); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			alice := st.ForOwner("alice")
			b.Run(fmt.Sprintf("%s/others=%d", be.name, others), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got := 0
					for _, err := range alice.List(ctx, sqlstore.ListOptions{Limit: 50}) {
						if err != nil {
							b.Fatal(err)
						}
						got++
					}
					if got != 50 {
						b.Fatalf("%d sessions", got)
					}
				}
			})
		}
	}
}
