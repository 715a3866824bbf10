package sqlstore_test

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// walCommitsEnv sets how many commits each child of TestWALStaysBounded makes: 750 by
// default, as in CI; by hand, SQLSTORE_WAL_COMMITS=10000 go test -run
// WALStaysBounded ./sqlstore. The test is bounded by commits, not by time, so that a
// loaded machine makes it slower, never weaker.
const walCommitsEnv = "SQLSTORE_WAL_COMMITS"

// walCommits returns how many commits each child makes.
func walCommits() (int, error) {
	if s := os.Getenv(walCommitsEnv); s != "" {
		return strconv.Atoi(s)
	}
	return 750, nil
}

// TestWALChild is a child of TestWALStaysBounded: one goroutine commits turns to its
// session, and two read it and a page of the listing, without pause, until it has
// made its commits.
func TestWALChild(t *testing.T) {
	if os.Getenv(childID) == "" || os.Getenv(childTurns) != "wal" {
		t.Skip("runs only as the child of TestWALStaysBounded")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	db, err := sql.Open("sqlite", os.Getenv(childDSN))
	if err != nil {
		fail(err)
	}
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		fail(err)
	}
	id := os.Getenv(childID)
	commits, err := walCommits()
	if err != nil {
		fail(err)
	}
	for range 2 {
		go func() {
			for {
				if _, err := st.Load(ctx, id); err != nil {
					fail(err)
				}
				for _, err := range st.List(ctx, sqlstore.ListOptions{Limit: 10}) {
					if err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	big := strings.Repeat("x", 8000)
	for range commits {
		s, err := st.Load(ctx, id)
		if err != nil {
			fail(err)
		}
		next := s.AddMessage("user", big).AddMessage("assistant", big)
		if s.Len() > 100 {
			next = s.ClearMessages()
		}
		if err = st.Commit(ctx, s, next); err != nil {
			fail(err)
		}
	}
}

// TestWALStaysBounded runs two processes that read and write one SQLite database
// without pause, a number of commits each, and checks that its WAL file stays under
// 64 MiB all along: SQLite's own checkpoints cannot reset a WAL whose readers always
// overlap (1,500 commits of this size grow it to about 100 MiB without the store's
// resets).
func TestWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs writers for seconds")
	}
	commits, err := walCommits()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "wal.db")
	dsn := sqlstore.SQLiteDSN(path)
	st, db := open(t, "sqlite", dsn)
	type child struct {
		cmd    *exec.Cmd
		stderr strings.Builder
		done   chan error
	}
	var children []*child
	for range 2 {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^TestWALChild$", "-test.count=1"), done: make(chan error, 1)}
		c.cmd.Env = append(os.Environ(), childDSN+"="+dsn, childID+"="+s.ID(), childTurns+"=wal")
		c.cmd.Stderr = &c.stderr
		require.NoError(t, c.cmd.Start())
		go func() { c.done <- c.cmd.Wait() }()
		children = append(children, c)
		t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGKILL) })
	}
	var largest int64
	start := time.Now()
	for running := len(children); running > 0; time.Sleep(20 * time.Millisecond) {
		if info, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, info.Size())
		}
		for _, c := range children {
			select {
			case err := <-c.done:
				require.NoError(t, err, "child: %s", c.stderr.String())
				running--
			default:
			}
		}
	}
	var made int
	require.NoError(t, db.QueryRow("SELECT sum(revision) FROM sqlstore_sessions").Scan(&made))
	t.Logf("%d commits of two processes reading and writing, in %v: the WAL reached %.1f MiB", made, time.Since(start).Round(time.Second), float64(largest)/(1<<20))
	assert.GreaterOrEqual(t, made, 2*commits)
	assert.Less(t, largest, int64(64<<20))
}
