package sqlstore_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// writeTurns adds turns to the session with the given ID, each a user and an assistant
// message tagged "writer/turn", committing every turn and, on ErrConflict, loading the
// session again and retrying the turn. It returns how many conflicts it met.
func writeTurns(st *sqlstore.Store, id, writer string, turns int) (conflicts int, err error) {
	cur, err := st.Load(ctx, id)
	if err != nil {
		return 0, err
	}
	for turn := 0; turn < turns; {
		tag := fmt.Sprintf("%s/%d", writer, turn)
		next := cur.AddMessage("user", tag).AddMessage("assistant", tag)
		err := st.Commit(ctx, cur, next)
		switch {
		case errors.Is(err, sqlstore.ErrConflict):
			conflicts++
			if cur, err = st.Load(ctx, id); err != nil {
				return conflicts, err
			}
		case err != nil:
			return conflicts, err
		default:
			cur = next
			turn++
		}
	}
	return conflicts, nil
}

// updateTurns adds turns as writeTurns does, each through Update with the last 4
// messages loaded, counting the calls of the change beyond one per turn as conflicts.
func updateTurns(st *sqlstore.Store, id, writer string, turns int) (conflicts int, err error) {
	for turn := range turns {
		tag := fmt.Sprintf("%s/%d", writer, turn)
		calls := 0
		_, err := st.Update(ctx, id, func(s session.Session) (session.Session, error) {
			calls++
			return s.AddMessage("user", tag).AddMessage("assistant", tag), nil
		}, sqlstore.WithRecent(4))
		conflicts += max(calls-1, 0)
		if err != nil {
			return conflicts, err
		}
	}
	return conflicts, nil
}

// checkTurns checks that the session holds exactly the turns of the writers, each
// turn's pair adjacent, none twice, each writer's in order.
func checkTurns(t *testing.T, s session.Session, writers []string, turns int) {
	t.Helper()
	msgs := s.GetMessages(0)
	require.Len(t, msgs, 2*len(writers)*turns)
	next := map[string]int{}
	for i := 0; i < len(msgs); i += 2 {
		u, a := msgs[i], msgs[i+1]
		require.Equal(t, "user", u.Role, "message %d", i)
		require.Equal(t, "assistant", a.Role, "message %d", i+1)
		require.Equal(t, u.Content, a.Content, "a turn's pair is split at %d", i)
		writer, turnText, _ := strings.Cut(u.Content, "/")
		turn, err := strconv.Atoi(turnText)
		require.NoError(t, err)
		require.Equal(t, next[writer], turn, "writer %s: turn %d out of order or twice", writer, turn)
		next[writer]++
	}
	for _, w := range writers {
		require.Equal(t, turns, next[w], "writer %s", w)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		const writers, turns = 8, 25
		var names []string
		var wg sync.WaitGroup
		errs := make([]error, writers)
		conflicts := make([]int, writers)
		for w := range writers {
			names = append(names, fmt.Sprint("g", w))
		}
		for w, name := range names {
			wg.Go(func() { conflicts[w], errs[w] = writeTurns(st, s.ID(), name, turns) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		checkTurns(t, loaded, names, turns)
		t.Logf("%d writers, %d turns each: %v conflicts retried", writers, turns, conflicts)
	})
}

// The process tests run this file's test binary again as children.
const (
	childDriver = "SQLSTORE_TEST_DRIVER"
	childDSN    = "SQLSTORE_TEST_DSN"
	childID     = "SQLSTORE_TEST_SESSION"
	childWriter = "SQLSTORE_TEST_WRITER"
	childTurns  = "SQLSTORE_TEST_TURNS"  // "forever" for the crash test
	childUpdate = "SQLSTORE_TEST_UPDATE" // "1": each turn through Update, loading 4 messages
)

// TestWriterChild is a child of TestConcurrentProcesses and TestCommitSurvivesKill.
func TestWriterChild(t *testing.T) {
	if os.Getenv(childDSN) == "" {
		t.Skip("runs only as the child of a process test")
	}
	db, err := sql.Open(os.Getenv(childDriver), os.Getenv(childDSN))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	turns := 1 << 30
	if n, err := strconv.Atoi(os.Getenv(childTurns)); err == nil {
		turns = n
	}
	write := writeTurns
	if os.Getenv(childUpdate) == "1" {
		write = updateTurns
	}
	if _, err := write(st, os.Getenv(childID), os.Getenv(childWriter), turns); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}

func startChild(t *testing.T, b backend, dsn, id, writer, turns string, env ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), childDriver+"="+b.driver, childDSN+"="+dsn, childID+"="+id,
		childWriter+"="+writer, childTurns+"="+turns), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	return cmd, &stderr
}

// storedSession opens a new store of b and creates a session in it.
func storedSession(t *testing.T, b backend) (dsn string, st *sqlstore.Store, s session.Session) {
	dsn = b.newDSN(t)
	st, _ = open(t, b.driver, dsn)
	s = session.New("openai")
	require.NoError(t, st.Commit(ctx, session.Session{}, s))
	return dsn, st, s
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dsn, st, s := storedSession(t, b)
			const processes, turns = 4, 50
			var names []string
			var children []*exec.Cmd
			var stderrs []*bytes.Buffer
			for p := range processes {
				names = append(names, fmt.Sprint("p", p))
				cmd, stderr := startChild(t, b, dsn, s.ID(), names[p], strconv.Itoa(turns))
				children = append(children, cmd)
				stderrs = append(stderrs, stderr)
			}
			for i, cmd := range children {
				require.NoError(t, cmd.Wait(), "child %d: %s", i, stderrs[i])
			}
			loaded, err := st.Load(ctx, s.ID())
			require.NoError(t, err)
			checkTurns(t, loaded, names, turns)
		})
	}
}

// TestCommitSurvivesKill kills a process that commits turns in a loop at random moments,
// with SIGKILL: the store always opens, and the session loads whole, every turn in it
// entirely or not at all.
func TestCommitSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dsn, _, s := storedSession(t, b)
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
			const kills = 25
			lengths := map[int]bool{}
			for kill := range kills {
				cmd, stderr := startChild(t, b, dsn, s.ID(), fmt.Sprint("k", kill), "forever")
				time.Sleep(time.Duration(30+r.IntN(120)) * time.Millisecond)
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				require.Error(t, cmd.Wait(), "the child stopped by itself: %s", stderr)

				st, _ := open(t, b.driver, dsn) // a new process would open it again
				loaded, err := st.Load(ctx, s.ID())
				require.NoError(t, err, "after kill %d", kill)
				msgs := loaded.GetMessages(0)
				require.Equal(t, 0, len(msgs)%2, "after kill %d: a torn turn", kill)
				for i := 0; i < len(msgs); i += 2 {
					require.Equal(t, msgs[i].Content, msgs[i+1].Content, "after kill %d: a torn turn at %d", kill, i)
				}
				lengths[len(msgs)] = true
			}
			t.Logf("killed %d times; the session held %d different lengths", kills, len(lengths))
			assert.Greater(t, len(lengths), 5, "the children hardly committed")
		})
	}
}
