package sqlstore_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
// LoadFromFile, and a page of List among many sessions.

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
