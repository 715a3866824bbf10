package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session/sqlstore"
)

func openStore(t *testing.T, path string) *sqlstore.Store {
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := sqlstore.Open(context.Background(), db)
	require.NoError(t, err)
	return st
}

func TestSessionsInADatabase(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "chats.db")
	r := chatIn(t, dir, "/usage\n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "nothing was saved", "no empty session is kept")

	r = chatIn(t, dir, "hello\n/name first\n/new\nsecond chat\n/sessions\n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "New session; it will be kept in "+dsn)
	st := openStore(t, filepath.Join(dir, "chats.db"))
	var infos []sqlstore.Info
	for info, err := range st.List(context.Background(), sqlstore.ListOptions{}) {
		require.NoError(t, err)
		infos = append(infos, info)
	}
	require.Len(t, infos, 2)
	assert.Equal(t, 2, infos[0].Len)
	assert.Equal(t, "first", infos[1].Name)
	assert.Contains(t, r.stdout, "* "+infos[0].ID, "/sessions marks the current one")
	assert.Contains(t, r.stdout, infos[1].ID)

	// Run again: it goes on with the newest; /switch changes.
	r = chatIn(t, dir, "/switch "+infos[1].ID+"\nmore\n/switch nope\n", "-db", dsn)
	assert.Equal(t, 0, r.code, "a failed command is reported, and the chat ends normally")
	assert.Contains(t, r.stdout, "Resumed session "+infos[0].ID)
	assert.Contains(t, r.stdout, `Switched to "first"`)
	assert.Contains(t, r.stderr, "no such session")
	s, err := st.Load(context.Background(), infos[1].ID)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Len())

	r = chatIn(t, dir, "/sessions\n/switch x\n")
	assert.Contains(t, r.stdout, "run it with -db to keep many")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in other goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the output holds text.
func waitFor(t *testing.T, out *syncBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), text) {
		require.True(t, time.Now().Before(deadline), "waited for %q in:\n%s", text, out.String())
		time.Sleep(5 * time.Millisecond)
	}
}

// liveChat is a chat run in a goroutine on a SQLite database, fed line by line.
type liveChat struct {
	input       *io.PipeWriter
	out, errOut *syncBuffer
	done        chan int
	st          *sqlstore.Store // the same database, as another chat sees it
}

// startChat runs a chat on the SQLite database at path, says first to it, and waits
// until that turn is saved; it returns the chat and the ID of its session.
func startChat(t *testing.T, path, first string) (*liveChat, string) {
	stdin, input := io.Pipe()
	c := &liveChat{input: input, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int), st: openStore(t, path)}
	go func() { c.done <- run([]string{"-db", "sqlite:" + path}, stdin, c.out, c.errOut, false) }()
	fmt.Fprintln(input, first)
	waitFor(t, c.out, "an estimate")
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == ""; { // until the first turn is saved
		for info, err := range c.st.List(context.Background(), sqlstore.ListOptions{Limit: 1}) {
			if err == nil && info.Len == 2 {
				id = info.ID
			}
		}
		require.True(t, time.Now().Before(deadline), "the first turn was never saved")
		time.Sleep(5 * time.Millisecond)
	}
	return c, id
}

// addElsewhere adds a message to the session, as another chat would.
func (c *liveChat) addElsewhere(t *testing.T, id, text string) {
	other, err := c.st.Load(context.Background(), id)
	require.NoError(t, err)
	require.NoError(t, c.st.Commit(context.Background(), other, other.AddMessage("user", text)))
}

// TestConflictBetweenChats changes the session in the store while a chat has it open:
// the chat's next turn meets ErrConflict, loads the session again, says so, and answers
// again, losing neither turn.
func TestConflictBetweenChats(t *testing.T) {
	c, id := startChat(t, filepath.Join(t.TempDir(), "chats.db"), "first")
	c.addElsewhere(t, id, "from another chat")
	fmt.Fprintln(c.input, "second")
	c.input.Close()
	require.Equal(t, 0, <-c.done, c.errOut.String())
	st := c.st
	assert.Contains(t, c.out.String(), "This session was changed in another chat meanwhile: I loaded it again (3 messages) and answer again; the discarded answer's tokens stay counted.")
	s, err := st.Load(context.Background(), id)
	require.NoError(t, err)
	var contents []string
	for _, m := range s.GetMessages(0) {
		contents = append(contents, m.Role+":"+strings.SplitN(m.Content, ".", 2)[0])
	}
	assert.Equal(t, []string{"user:first", `assistant:You said "first"`, "user:from another chat", "user:second", `assistant:You said "second"`}, contents)
	answered := 0
	for _, m := range s.GetMessages(0) {
		answered += m.Usage().OutputTokens
	}
	assert.Greater(t, s.TokenUsage().OutputTokens, answered, "the discarded answer's tokens are counted")
}

// TestChangesAfterAConflict names and clears a session that another chat changed: the
// chat loads it again and goes on, instead of ending.
func TestChangesAfterAConflict(t *testing.T) {
	c, id := startChat(t, filepath.Join(t.TempDir(), "chats.db"), "first")
	fmt.Fprintln(c.input, "/name before")
	waitFor(t, c.out, `named "before"`)
	c.addElsewhere(t, id, "from another chat")
	fmt.Fprintln(c.input, "/name after")
	waitFor(t, c.out, `named "after"`)
	c.addElsewhere(t, id, "again")
	fmt.Fprintln(c.input, "/clear")
	c.input.Close()
	require.Equal(t, 0, <-c.done, c.errOut.String())
	assert.Contains(t, c.out.String(), "This session was changed in another chat meanwhile: I loaded it again (3 messages).")
	s, err := c.st.Load(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "after", s.Name())
	assert.Zero(t, s.Len(), "cleared, the other chat's messages included")
}

// TestRetryAfterAConflict answers again in a session that another chat changed: /retry
// answers the last user message of the session as stored, through the store's Update,
// and the chat goes on.
func TestRetryAfterAConflict(t *testing.T) {
	c, id := startChat(t, filepath.Join(t.TempDir(), "chats.db"), "first")
	c.addElsewhere(t, id, "from another chat")
	fmt.Fprintln(c.input, "/retry")
	fmt.Fprintln(c.input, "/usage")
	c.input.Close()
	require.Equal(t, 0, <-c.done, c.errOut.String())
	assert.Contains(t, c.out.String(), "This session was changed in another chat meanwhile: I loaded it again (3 messages) and answer again")
	s, err := c.st.Load(context.Background(), id)
	require.NoError(t, err)
	last, _ := s.LastMessage()
	assert.Equal(t, 4, s.Len())
	assert.True(t, strings.HasPrefix(last.Content, `You said "from another chat"`), last.Content)
	assert.Contains(t, c.out.String(), "All of it is estimated")
}

func TestSwitchByPrefix(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "chats.db")
	r := chatIn(t, dir, "one\n/new\ntwo\n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	st := openStore(t, filepath.Join(dir, "chats.db"))
	var ids []string
	for info, err := range st.List(context.Background(), sqlstore.ListOptions{}) {
		require.NoError(t, err)
		ids = append(ids, info.ID)
	}
	require.Len(t, ids, 2)
	prefix := ids[1]
	for n := 1; n <= len(prefix); n++ { // the shortest prefix of the older that is unique
		if !strings.HasPrefix(ids[0], prefix[:n]) {
			prefix = prefix[:n]
			break
		}
	}
	r = chatIn(t, dir, "/switch "+prefix+"\n/switch 0\n/switch \n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Switched to")
	assert.Contains(t, r.stdout, ids[1][:8])
	common := ""
	for i := range ids[0] {
		if ids[0][i] != ids[1][i] {
			break
		}
		common = ids[0][:i+1]
	}
	if common != "" {
		r = chatIn(t, dir, "/switch "+common+"\n", "-db", dsn)
		assert.Contains(t, r.stderr, "2 sessions begin so")
	}
}

func TestNewWithOneFile(t *testing.T) {
	dir := t.TempDir()
	r := chatIn(t, dir, "hello\n/new\n")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "This chat keeps one session")
	assert.Contains(t, r.stdout, "-db sqlite:chats.db")
	s := load(t, filepath.Join(dir, "chat-session.json"))
	assert.Equal(t, 2, s.Len(), "the session is kept")
}

func TestSessionsInPostgreSQL(t *testing.T) {
	dsn := os.Getenv("SQLSTORE_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SQLSTORE_POSTGRES_DSN is not set")
	}
	dir := t.TempDir()
	r := chatIn(t, dir, "/new\nhello postgres\n/sessions\n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `You said "hello postgres"`)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	st, err := sqlstore.Open(context.Background(), db)
	require.NoError(t, err)
	found := false
	for info, err := range st.List(context.Background(), sqlstore.ListOptions{Limit: 5}) {
		require.NoError(t, err)
		if strings.Contains(r.stdout, "* "+info.ID) {
			found = true
			s, err := st.Load(context.Background(), info.ID)
			require.NoError(t, err)
			assert.Equal(t, "hello postgres", s.GetMessages(2)[0].Content)
		}
	}
	assert.True(t, found)
}

// TestDatabaseFile checks the chat's SQLite file: created private, closed on exit so
// that the WAL is folded into it, and a session named with bytes that are not UTF-8
// (issue 14: every later run failed with a conflict) goes on in later runs.
func TestDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	dsn := "sqlite:" + path
	r := chatIn(t, dir, "hello\n/name caf\xc3\n/quit\n", "-db", dsn)
	require.Equal(t, 0, r.code, r.stderr)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.Positive(t, info.Size())
	_, err = os.Stat(path + "-wal")
	assert.ErrorIs(t, err, os.ErrNotExist, "the database was closed")

	for i := range 2 {
		r = chatIn(t, dir, fmt.Sprintf("more %d\n/name again\n", i), "-db", dsn)
		require.Equal(t, 0, r.code, "run %d: %s", i, r.stderr)
		assert.NotContains(t, r.stderr, "conflict")
	}
	st := openStore(t, path)
	for info, err := range st.List(context.Background(), sqlstore.ListOptions{}) {
		require.NoError(t, err)
		assert.Equal(t, 6, info.Len)
		assert.Equal(t, "again", info.Name)
	}
}
