package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
	"github.com/exllm-go/session/storage"
)

var ctx = context.Background()

// rich is a session file with everything FromJSON keeps: parts, other contents, nulls,
// timestamps in other forms, big numbers, usage, unknown keys.
const rich = `{"context":{"big":123456789012345678901234567890,"list":[1,"two",null]},"created_at":"2026-01-02T03:04:05.123456789+01:00",
"id":"rich-1","llm_backend":null,"messages":[
{"content":[{"text":"What is this?","type":"text"},{"image_url":{"url":"https://example.com/cat.png"},"type":"image_url"}],"role":"user","timestamp":"2024-01-01"},
{"content":null,"role":"assistant","timestamp":"2024-01-01T00:00:00","tool_calls":[{"function":{"arguments":"{}","name":"f"},"id":"call_1","type":"function"}],"token_usage":{"input_tokens":12,"output_tokens":3}},
{"content":{"temp":-3},"role":"tool","tool_call_id":"call_1","n":18446744073709551615},
{"content":"\u0000 <b>é</b> \u2028","role":"assistant","timestamp":null,"x":{}}],
"name":"ricñ","schema_version":2,"token_usage":{"cache_read_tokens":0,"input_tokens":12,"output_tokens":3,"total":15},"updated_at":"2026-01-02T03:04:06Z"}`

func TestCommitAndLoad(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s, err := session.FromJSON([]byte(rich))
		require.NoError(t, err)
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(s), "everything FromJSON keeps survives")
		assert.Equal(t, string(mustJSON(t, s)), string(mustJSON(t, loaded)))

		// Turns, and every other kind of change.
		changes := []func(session.Session) session.Session{
			func(s session.Session) session.Session {
				return s.AddMessage("user", "hi").AddMessage("assistant", "hello",
					session.WithUsage(session.TokenUsage{InputTokens: 5, OutputTokens: 2, ReasoningTokens: 1}))
			},
			func(s session.Session) session.Session { return s.SetName("renamed") },
			func(s session.Session) session.Session { return s.SetContext(map[string]any{"k": "v"}) },
			func(s session.Session) session.Session {
				return s.UpdateTokenUsage(session.TokenUsage{CacheWriteTokens: 9})
			},
			func(s session.Session) session.Session { return s.Truncate(3).AddMessage("assistant", "again") },
			func(s session.Session) session.Session { return s.Truncate(1) },
			func(s session.Session) session.Session { return s.ClearMessages() },
			func(s session.Session) session.Session { return s.AddMessage("user", "after clear") },
		}
		for i, change := range changes {
			next := change(s)
			require.NoError(t, st.Commit(ctx, s, next), "change %d", i)
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			require.True(t, loaded.Equal(next), "change %d", i)
			s = loaded // the next change starts from what was loaded
		}
	})
}

func mustJSON(t *testing.T, s session.Session) []byte {
	data, err := s.ToJSON()
	require.NoError(t, err)
	return data
}

func TestCommitIsACompareAndSwap(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		base := session.New("openai").AddMessage("system", "Be brief.")
		require.NoError(t, st.Commit(ctx, session.Session{}, base))
		require.NoError(t, st.Commit(ctx, session.Session{}, base), "creating again, a retry")

		a := base.AddMessage("user", "from a")
		b := base.AddMessage("user", "from b")
		require.NoError(t, st.Commit(ctx, base, a))
		err := st.Commit(ctx, base, b)
		assert.ErrorIs(t, err, sqlstore.ErrConflict, "the second writer from the same base")
		loaded, err := st.Load(ctx, base.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(a), "and it wrote nothing")

		// A stale base, many commits later, and every earlier version.
		versions := []session.Session{base, a}
		s := a
		for i := range 5 {
			next := s.AddMessage("user", fmt.Sprint(i))
			require.NoError(t, st.Commit(ctx, s, next))
			versions = append(versions, next)
			s = next
		}
		for i, old := range versions[:len(versions)-1] {
			err := st.Commit(ctx, old, old.SetName("stale"))
			assert.ErrorIs(t, err, sqlstore.ErrConflict, "version %d", i)
		}

		// A retry of a commit that succeeded writes nothing twice, right after it and
		// after other commits followed.
		next := s.AddMessage("user", "retried")
		require.NoError(t, st.Commit(ctx, s, next))
		require.NoError(t, st.Commit(ctx, s, next))
		later := next.AddMessage("assistant", "ok")
		require.NoError(t, st.Commit(ctx, next, later))
		require.NoError(t, st.Commit(ctx, s, next), "a turn's messages are there: it was committed")
		loaded, err = st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(later))

		// Creating again once others committed is a retry of a commit that was made;
		// another session of the same ID is a conflict.
		assert.NoError(t, st.Commit(ctx, session.Session{}, base))
		other, err := session.FromJSON(must(base.SetName("impostor").ToJSON()))
		require.NoError(t, err)
		assert.ErrorIs(t, st.Commit(ctx, session.Session{}, other), sqlstore.ErrConflict)

		// Committing a session unchanged checks it is still stored as it is.
		assert.NoError(t, st.Commit(ctx, later, later))
		assert.ErrorIs(t, st.Commit(ctx, base, base), sqlstore.ErrConflict)
	})
}

func must(data []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return data
}

func TestBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("user", "hi")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))

		_, err := st.Load(ctx, "nope")
		assert.ErrorIs(t, err, sqlstore.ErrNotFound)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.ErrorContains(t, err, "sqlstore: load nope: no such session")
		assert.ErrorIs(t, st.Delete(ctx, "nope"), sqlstore.ErrNotFound)
		_, err = st.Messages(ctx, "nope", 0, 1)
		assert.ErrorIs(t, err, sqlstore.ErrNotFound)

		unstored := session.New("openai")
		assert.ErrorIs(t, st.Commit(ctx, unstored, unstored.AddMessage("user", "x")), sqlstore.ErrNotFound)
		assert.ErrorContains(t, st.Commit(ctx, s, session.New("").AddMessage("user", "x")), "another session")
		assert.ErrorContains(t, st.Commit(ctx, s, session.Session{}), "zero Session")
		assert.ErrorContains(t, st.Commit(ctx, session.Session{}, session.Session{}), "zero Session")
		older, err := session.FromJSON([]byte(`{"id":"` + s.ID() + `","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-01T00:00:00Z"}`))
		require.NoError(t, err)
		assert.ErrorContains(t, st.Commit(ctx, s, older), "not a change of base")
		bad := s.AddMessage("user", "x", session.WithExtra("f", func() {}))
		assert.ErrorContains(t, st.Commit(ctx, s, bad), "message 1: session: message: f: json: unsupported type")

		// A context cancelled before or during the commit: an error, nothing written.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		next := s.AddMessage("user", "never")
		assert.ErrorIs(t, st.Commit(cancelled, s, next), context.Canceled)
		deadline, cancel := context.WithTimeout(ctx, time.Microsecond)
		defer cancel()
		time.Sleep(time.Millisecond)
		assert.Error(t, st.Commit(deadline, s, next))
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(s))

		require.NoError(t, st.Delete(ctx, s.ID()))
		_, err = st.Load(ctx, s.ID())
		assert.ErrorIs(t, err, sqlstore.ErrNotFound)
		assert.ErrorIs(t, st.Commit(ctx, s, next), sqlstore.ErrNotFound, "a commit to a deleted session")

		require.NoError(t, db.Close())
		_, err = st.Load(ctx, s.ID())
		assert.ErrorContains(t, err, "database is closed")
		assert.ErrorContains(t, st.Commit(ctx, session.Session{}, next), "database is closed")
	})
}

// TestCancelMidCommit cancels the context of a large commit while it runs: the commit
// is made whole or not at all.
func TestCancelMidCommit(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		base := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, base))
		next := base
		for i := range 20_000 {
			next = next.AddMessage("user", fmt.Sprintf("%d: %0200d", i, i))
		}
		for _, after := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
			cancelled, cancel := context.WithCancel(ctx)
			go func() { time.Sleep(after); cancel() }()
			err := st.Commit(cancelled, base, next)
			cancel()
			loaded, lerr := st.Load(ctx, base.ID())
			require.NoError(t, lerr)
			if err == nil {
				require.True(t, loaded.Equal(next), "committed: whole")
				t.Logf("committed whole before a cancel after %v", after)
				return
			}
			require.ErrorIs(t, err, context.Canceled)
			require.True(t, loaded.Equal(base), "cancelled after %v: nothing written", after)
			t.Logf("cancelled after %v: nothing written", after)
		}
	})
}

func TestMessagesPage(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		next := s
		for i := range 30 {
			next = next.AddMessage("user", fmt.Sprint(i))
		}
		require.NoError(t, st.Commit(ctx, s, next))
		page, err := st.Messages(ctx, s.ID(), 25, 100)
		require.NoError(t, err)
		want := next.GetMessages(5)
		require.Len(t, page, 5)
		for i := range page {
			assert.True(t, page[i].Equal(want[i]))
		}
		empty, err := st.Messages(ctx, s.ID(), 40, 50)
		require.NoError(t, err)
		assert.Empty(t, empty)
	})
}

func TestList(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		var ids []string
		for i := range 23 {
			s := session.New("openai", session.WithName(fmt.Sprint("chat ", i))).AddMessage("user", "hi")
			if i%2 == 0 {
				s = s.AddMessage("assistant", "hello", session.WithUsage(session.TokenUsage{InputTokens: i, OutputTokens: 1}))
			}
			require.NoError(t, st.Commit(ctx, session.Session{}, s))
			ids = append(ids, s.ID())
		}
		// Update one, which makes it the newest.
		first, err := st.Load(ctx, ids[0])
		require.NoError(t, err)
		require.NoError(t, st.Commit(ctx, first, first.SetName("updated")))
		ids = append(ids[1:], ids[0])
		slices.Reverse(ids)

		var got []string
		after := ""
		for page := 0; ; page++ {
			var infos []sqlstore.Info
			for info, err := range st.List(ctx, sqlstore.ListOptions{Limit: 5, After: after}) {
				require.NoError(t, err)
				infos = append(infos, info)
			}
			for _, info := range infos {
				got = append(got, info.ID)
			}
			if len(infos) < 5 {
				break
			}
			after = infos[len(infos)-1].Cursor()
		}
		assert.Equal(t, ids, got, "newest first, each once")

		for info, err := range st.List(ctx, sqlstore.ListOptions{Limit: 1}) {
			require.NoError(t, err)
			assert.Equal(t, "updated", info.Name)
			assert.Equal(t, "openai", info.Backend)
			assert.Equal(t, 2, info.Len)
			assert.Equal(t, session.TokenUsage{InputTokens: 0, OutputTokens: 1}, info.Usage)
			assert.False(t, info.UpdatedAt.Before(info.CreatedAt))
		}
		all := 0
		for _, err := range st.List(ctx, sqlstore.ListOptions{}) {
			require.NoError(t, err)
			all++
		}
		assert.Equal(t, 23, all)
		for _, err := range st.List(ctx, sqlstore.ListOptions{After: "garbage!"}) {
			assert.ErrorContains(t, err, "not a cursor")
		}
	})
}

func TestSchemaVersions(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			_, db := open(t, b.driver, dsn)
			var version int
			require.NoError(t, db.QueryRow("SELECT version FROM sqlstore_schema").Scan(&version))
			assert.Equal(t, 6, version)

			_, err := sqlstore.Open(ctx, db)
			assert.NoError(t, err, "opening again changes nothing")

			for _, tt := range []struct{ set, want string }{
				{"UPDATE sqlstore_schema SET version = 99", "the schema is version 99, newer than this package knows (6)"},
				{"UPDATE sqlstore_schema SET version = -1", "sqlstore_schema holds version -1, not a version"},
				{"INSERT INTO sqlstore_schema (version) VALUES (5)", "sqlstore_schema holds 2 rows, not one"},
			} {
				_, err = db.Exec("DELETE FROM sqlstore_schema")
				require.NoError(t, err)
				_, err = db.Exec("INSERT INTO sqlstore_schema (version) VALUES (5)")
				require.NoError(t, err)
				_, err = db.Exec(tt.set)
				require.NoError(t, err)
				_, err = sqlstore.Open(ctx, db)
				assert.ErrorContains(t, err, tt.want)
			}
		})
	}
	_, err := sqlstore.Open(ctx, openNothing(t))
	assert.ErrorContains(t, err, "sqlstore: open")
}

// TestMigration stores a session as version 2 of the schema held it (a version that
// covered its last message only), and opens the store: the migration to version 3
// computes the session's version again, the one to version 5 records the chain digests
// of its messages, and the session loads, whole and recent, and takes commits.
func TestMigration(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db, err := sql.Open(b.driver, b.newDSN(t))
			require.NoError(t, err)
			defer db.Close()
			_, err = sqlstore.OpenAtVersion(ctx, db, 2)
			require.NoError(t, err)
			s := session.New("openai", session.WithName("caf\xc3")).AddMessage("user", "from version 2").AddMessage("assistant", "\xff")
			insertAsVersion2(t, db, b.name == "postgres", s)

			st, err := sqlstore.Open(ctx, db)
			require.NoError(t, err)
			var version int
			require.NoError(t, db.QueryRow("SELECT version FROM sqlstore_schema").Scan(&version))
			assert.Equal(t, 6, version)
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			assert.True(t, loaded.Equal(s), "what version 2 stored loads")
			recent, err := st.LoadRecent(ctx, s.ID(), 1)
			require.NoError(t, err)
			assert.Equal(t, 1, recent.FirstIndex())
			assert.True(t, recent.Equal(s), "the migration recorded the chain digests")
			next := loaded.AddMessage("user", "after the migration")
			require.NoError(t, st.Commit(ctx, loaded, next))
			loaded, err = st.Load(ctx, s.ID())
			require.NoError(t, err)
			assert.True(t, loaded.Equal(next))
		})
	}
}

// insertAsVersion2 writes s as version 2 of the schema did: its header and messages as
// they were written then (invalid UTF-8 as the escape \ufffd), and a version of its own.
func insertAsVersion2(t *testing.T, db *sql.DB, postgres bool, s session.Session) {
	old := func(data []byte) string { return strings.ReplaceAll(string(data), "\uFFFD", `\ufffd`) }
	rebind := func(q string) string {
		if !postgres {
			return q
		}
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
		return q
	}
	u := s.TokenUsage()
	_, err := db.Exec(rebind(`INSERT INTO sqlstore_sessions (id, name, backend, created_us, updated_us, message_count,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, version, header)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`), s.ID(), "n", s.Backend(), s.CreatedAt().UnixMicro(), s.UpdatedAt().UnixMicro(),
		s.Len(), u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens,
		"a version 2 made", old(must(storage.Header(s))))
	require.NoError(t, err)
	for i, m := range s.GetMessages(0) {
		_, err := db.Exec(rebind(`INSERT INTO sqlstore_messages (session_id, seq, body) VALUES (?,?,?)`), s.ID(), i, old(must(m.MarshalJSON())))
		require.NoError(t, err)
	}
}

// openNothing returns a database that is closed.
func openNothing(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	db.Close()
	return db
}

func TestErrorsAreSentinels(t *testing.T) {
	assert.True(t, errors.Is(sqlstore.ErrNotFound, fs.ErrNotExist))
	assert.False(t, errors.Is(sqlstore.ErrConflict, sqlstore.ErrNotFound))
}
