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

// walSecondsEnv sets how long TestWALStaysBounded runs: 20 seconds by default, as in
// CI; by hand, SQLSTORE_WAL_SECONDS=60 go test -run WALStaysBounded ./sqlstore.
const walSecondsEnv = "SQLSTORE_WAL_SECONDS"

// TestWALChild is a child of TestWALStaysBounded: one goroutine commits turns to its
// session, and two read it and a page of the listing, without pause, until the process
// is killed.
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
	for {
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
// without pause, and checks that its WAL file stays under 64 MiB: SQLite's own
// checkpoints cannot reset a WAL whose readers always overlap.
func TestWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs writers for seconds")
	}
	d := 20 * time.Second
	if s := os.Getenv(walSecondsEnv); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		d = time.Duration(n) * time.Second
	}
	path := filepath.Join(t.TempDir(), "wal.db")
	dsn := sqlstore.SQLiteDSN(path)
	st, db := open(t, "sqlite", dsn)
	var children []*exec.Cmd
	for range 2 {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		cmd := exec.Command(os.Args[0], "-test.run=^TestWALChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDSN+"="+dsn, childID+"="+s.ID(), childTurns+"=wal")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		children = append(children, cmd)
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if s := stderr.String(); s != "" && !strings.Contains(s, "signal: killed") {
				t.Logf("child: %s", s)
			}
		})
	}
	var largest int64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if info, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, info.Size())
		}
		for _, c := range children {
			require.Nil(t, c.ProcessState, "a child stopped")
		}
	}
	var commits int
	require.NoError(t, db.QueryRow("SELECT sum(revision) FROM sqlstore_sessions").Scan(&commits))
	t.Logf("%v of two processes reading and writing, %d commits: the WAL reached %.1f MiB", d, commits, float64(largest)/(1<<20))
	assert.Greater(t, commits, 100, "the children hardly committed")
	assert.Less(t, largest, int64(64<<20))
}
