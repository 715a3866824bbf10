//go:build linux

package sqlstore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// The linearizability check: writers in goroutines and in processes make random calls
// on a few sessions, each of an owner of its own: changes (turns, Truncate, SetName,
// SetContext, ClearMessages, usage, summaries; from their last base, loaded whole or its
// last messages only with LoadRecent, from stale bases, and retries), loads, Delete and
// creation anew, Prune of the owner's view at the session's last time or just after it,
// and calls through another owner's view, under faults (contexts that end mid-call,
// PostgreSQL backends terminated, processes killed); every call is recorded with its
// result, and porcupine checks the history against a sequential model: a
// compare-and-swap register of whole sessions, which also takes a commit of a session it
// held among its last RetainedVersions states as made, forgets them when the session is
// deleted, and sees nothing through another owner's view. A load that fails otherwise
// than by ErrNotFound is a failure of the check, as is a partial session that does not
// hold the conversation's leading system messages before its first.
//
// It runs for linSeconds per database (3 by default, as in CI); set SQLSTORE_LIN_SECONDS
// to run longer by hand: SQLSTORE_LIN_SECONDS=120 go test -run Linearizable ./sqlstore

const linSecondsEnv = "SQLSTORE_LIN_SECONDS"

// linInput and linOutput are a call and its result as the model sees them. Sessions
// are named by linHash, their session.Digest, which identifies their JSON (see
// TestDigestIdentifiesTheJSON) and is the whole session's for a partial one: the model
// knows nothing of how the store records versions, which a test breaks on purpose.
type linInput struct {
	Session string `json:"s"`
	Op      string `json:"o"`           // load, commit, delete, prune
	Foreign bool   `json:"f,omitempty"` // through another owner's view
	Base    string `json:"b,omitempty"` // "" to create
	Next    string `json:"n,omitempty"`
	// NextSys names the leading system messages of next (linSystem); NextUpdated is
	// its UpdatedAt, in microseconds.
	NextSys     string `json:"y,omitempty"`
	NextUpdated int64  `json:"u,omitempty"`
	Cut         int64  `json:"c,omitempty"` // Prune's time, in microseconds
}

type linOutput struct {
	Result string `json:"r"` // ok, conflict, notfound, unknown; error for a load that failed
	Value  string `json:"v,omitempty"`
	// A load's: the index of the first message it holds, and the leading system
	// messages it holds before it (linSystem). Prune's: the count it deleted.
	First int    `json:"i,omitempty"`
	Sys   string `json:"y,omitempty"`
	Count int    `json:"k,omitempty"`
}

// linState is the model's state of one session: whether it exists, the session it
// holds, its leading system messages and its time, and the last RetainedVersions
// sessions it held (the current one included), each 16 characters of linHash.
type linState struct {
	exists  bool
	cur     string
	sys     string
	updated int64
	recent  string
}

const linHashLen = 16

func linHash(s session.Session) string {
	if s.ID() == "" {
		return ""
	}
	d, err := s.Digest()
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(d[:])[:linHashLen]
}

// linSysLen is the length of a system message's name in linSystem.
const linSysLen = 8

// linSystem names the leading system messages of s that it holds before its first
// message, for a partial session, or all of them, each by 8 characters of a hash of
// its JSON; with whole, those of the whole conversation, also among the messages a
// partial session holds.
func linSystem(s session.Session, whole bool) string {
	var b strings.Builder
	for i := 0; whole || i < s.FirstIndex(); i++ {
		m, ok := heldAt(s, i)
		if !ok || m.Role != "system" {
			break
		}
		body, err := m.MarshalJSON()
		if err != nil {
			panic(err)
		}
		d := sha256.Sum256(body)
		b.WriteString(hex.EncodeToString(d[:])[:linSysLen])
	}
	return b.String()
}

// heldAt returns message i of s, and whether s holds it.
func heldAt(s session.Session, i int) (m session.Message, ok bool) {
	if i >= s.Len() {
		return m, false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return s.MessageAt(i), true
}

func (st linState) held(h string) bool {
	for i := 0; i+linHashLen <= len(st.recent); i += linHashLen {
		if st.recent[i:i+linHashLen] == h {
			return true
		}
	}
	return false
}

func (st linState) apply(in linInput) linState {
	recent := st.recent + in.Next
	if most := sqlstore.RetainedVersions * linHashLen; len(recent) > most {
		recent = recent[len(recent)-most:]
	}
	return linState{exists: true, cur: in.Next, sys: in.NextSys, updated: in.NextUpdated, recent: recent}
}

// linStep is the sequential specification of the calls on one session.
func linStep(state, input, output any) (bool, any) {
	st, in, out := state.(linState), input.(linInput), output.(linOutput)
	switch {
	case in.Op == "load" && (!st.exists || in.Foreign):
		return out.Result == "notfound", st
	case in.Op == "load":
		// A partial session holds the leading system messages before its first.
		sys := st.sys[:min(len(st.sys), out.First*linSysLen)]
		return out.Result == "ok" && out.Value == st.cur && (out.First == 0 || out.Sys == sys), st
	}
	var want string
	next := st
	switch {
	case in.Foreign && in.Op != "prune":
		want = "notfound"
	case in.Op == "delete" && st.exists:
		want, next = "ok", linState{}
	case in.Op == "delete":
		want = "notfound"
	case in.Op == "prune":
		deleted := st.exists && st.updated < in.Cut
		if deleted {
			next = linState{}
		}
		if out.Result == "unknown" {
			return true, next
		}
		return out.Result == "ok" && out.Count == map[bool]int{true: 1}[deleted], next
	case in.Base == "" && !st.exists:
		want, next = "ok", st.apply(in)
	case in.Base == "":
		want = "conflict"
		if in.Next == st.cur || st.held(in.Next) {
			want = "ok"
		}
	case !st.exists:
		want = "notfound"
	case st.cur == in.Base:
		want, next = "ok", st.apply(in)
	case in.Next == st.cur:
		want = "ok"
	case in.Next != in.Base && st.held(in.Next):
		want = "ok"
	default:
		want = "conflict"
	}
	if out.Result == "unknown" {
		// Made or not: made where it could be, and the checker may place it after every
		// other call, where it changes nothing that was seen.
		return true, next
	}
	if want != "ok" {
		next = st
	}
	return out.Result == want, next
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		bySession := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			id := op.Input.(linInput).Session
			if _, ok := bySession[id]; !ok {
				order = append(order, id)
			}
			bySession[id] = append(bySession[id], op)
		}
		var parts [][]porcupine.Operation
		for _, id := range order {
			parts = append(parts, bySession[id])
		}
		return parts
	},
	Init: func() any { return linState{} },
	Step: linStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		foreign := ""
		if in.Foreign {
			foreign = " (another owner)"
		}
		switch in.Op {
		case "load":
			return fmt.Sprintf("load%s → %s %s from %d, system %s", foreign, out.Result, out.Value, out.First, out.Sys)
		case "delete":
			return fmt.Sprintf("delete%s → %s", foreign, out.Result)
		case "prune":
			return fmt.Sprintf("prune before %d → %s %d", in.Cut, out.Result, out.Count)
		}
		return fmt.Sprintf("commit%s %s → %s: %s", foreign, in.Base, in.Next, out.Result)
	},
	DescribeState: func(state any) string {
		st := state.(linState)
		return fmt.Sprintf("%v %s at %d, system %s", st.exists, st.cur, st.updated, st.sys)
	},
}

// monotonic returns the time of the machine's monotonic clock, which every process
// shares, in nanoseconds.
func monotonic() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return ts.Nano()
}

// linOwner is the owner of the i-th session of the check.
func linOwner(i int) string { return fmt.Sprint("owner-", i) }

// linWorker makes random calls on the store and records them.
type linWorker struct {
	st      *sqlstore.Store
	ids     []string
	r       *rand.Rand
	cancels bool // end some calls' contexts mid-call
	record  func(call linCall)

	known  map[string]session.Session   // the base each session's next change starts from
	stale  map[string][]session.Session // earlier bases
	last   map[string][2]session.Session
	reload map[string]bool
	gone   map[string]bool // the last load found no session: create it anew
}

// linCall is one recorded call: its input, its output (nil while it runs), and when.
type linCall struct {
	In     linInput   `json:"in"`
	Out    *linOutput `json:"out,omitempty"`
	Call   int64      `json:"c"`
	Return int64      `json:"t"`
	Seq    int        `json:"q"`
}

func newLinWorker(st *sqlstore.Store, ids []string, seed uint64, cancels bool, record func(linCall)) *linWorker {
	return &linWorker{st: st, ids: ids, r: rand.New(rand.NewPCG(seed, 7)), cancels: cancels, record: record,
		known: map[string]session.Session{}, stale: map[string][]session.Session{},
		last: map[string][2]session.Session{}, reload: map[string]bool{}, gone: map[string]bool{}}
}

// linChange returns a random change of s. Contents, names and timestamps come from
// small sets, so that writers often make the very same change.
func linChange(r *rand.Rand, s session.Session) session.Session {
	words := []string{"hi", "ok", "caf\xc3", "\xff"}
	word := func() string { return words[r.IntN(len(words))] }
	at := time.Unix(int64(r.IntN(2)), 0)
	switch r.IntN(14) {
	case 11:
		return s.Summarize(r.IntN(s.Len()+1), word())
	case 0, 1, 2, 3:
		return s.AddMessage("user", word(), session.WithTimestamp(at)).AddMessage("assistant", word(), session.WithTimestamp(at))
	case 4:
		return s.AddMessage("tool", word(), session.WithTimestamp(at), session.WithExtra("tool_call_id", word()))
	case 5: // within what a partial session holds
		return s.Truncate(s.FirstIndex() + r.IntN(s.Len()-s.FirstIndex()+1))
	case 6:
		return s.SetName(word())
	case 7:
		return s.SetContext(map[string]any{word(): word()})
	case 8:
		return s.UpdateTokenUsage(session.TokenUsage{InputTokens: r.IntN(2)})
	case 9: // sometimes with instructions, which LoadRecent reads apart
		if r.IntN(2) == 0 {
			return s.ClearMessages().AddMessage("system", word(), session.WithTimestamp(at))
		}
		return s.ClearMessages()
	case 12: // instructions after those there are, where they are leading
		return s.AddMessage("system", word(), session.WithTimestamp(at))
	case 10:
		return s // unchanged: a check that the store holds s
	default:
		return s.AddMessage("user", word(), session.WithTimestamp(at))
	}
}

// linFresh returns a new session with the given ID, as a writer creates one anew after
// it was deleted.
func linFresh(id string) session.Session {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	s, err := session.FromJSON([]byte(`{"id":"` + id + `","created_at":"` + now + `","updated_at":"` + now + `"}`))
	if err != nil {
		panic(err)
	}
	return s
}

// view returns the view of the owner of session id, or, with foreign, of another's.
func (w *linWorker) view(id string, foreign bool) *sqlstore.Store {
	for i, other := range w.ids {
		if other == id {
			if foreign {
				i++
			}
			return w.st.ForOwner(linOwner(i % len(w.ids)))
		}
	}
	panic("no session " + id)
}

// context returns a context for a call that faults may cut.
func (w *linWorker) context() (context.Context, context.CancelFunc) {
	if w.cancels && w.r.IntN(8) == 0 {
		return context.WithTimeout(context.Background(), time.Duration(w.r.IntN(3000))*time.Microsecond)
	}
	return context.WithCancel(context.Background())
}

// call records a call of in, runs it and records its result.
func (w *linWorker) call(seq int, in linInput, run func() linOutput) linOutput {
	call := linCall{In: in, Call: monotonic(), Seq: seq}
	w.record(call)
	out := run()
	call.Out, call.Return = &out, monotonic()
	w.record(call)
	return out
}

// step makes one call.
func (w *linWorker) step(seq int) {
	id := w.ids[w.r.IntN(len(w.ids))]
	foreign := w.r.IntN(20) == 0
	base, ok := w.known[id]
	switch {
	case w.gone[id] && w.r.IntN(2) == 0:
		w.commit(seq, id, session.Session{}, linFresh(id), false)
		return
	case !ok || w.reload[id] || w.r.IntN(10) == 0:
		w.load(seq, id, foreign)
		return
	case w.r.IntN(80) == 0:
		w.delete(seq, id, foreign)
		return
	case w.r.IntN(80) == 0:
		w.prune(seq, id, base.UpdatedAt().UnixMicro()+int64(w.r.IntN(2)))
		return
	}
	next := linChange(w.r, base)
	switch w.r.IntN(10) {
	case 0: // a stale base
		if old := w.stale[id]; len(old) > 0 {
			base = old[w.r.IntN(len(old))]
			next = linChange(w.r, base)
		}
	case 1: // a retry of the last commit
		if try, ok := w.last[id]; ok {
			base, next = try[0], try[1]
		}
	}
	w.commit(seq, id, base, next, foreign)
}

func (w *linWorker) commit(seq int, id string, base, next session.Session, foreign bool) {
	in := linInput{Session: id, Op: "commit", Foreign: foreign, Base: linHash(base), Next: linHash(next),
		NextSys: linSystem(next, true), NextUpdated: next.UpdatedAt().UnixMicro()}
	out := w.call(seq, in, func() linOutput {
		ctx, cancel := w.context()
		defer cancel()
		return linOutput{Result: result(w.view(id, foreign).Commit(ctx, base, next))}
	})
	w.last[id] = [2]session.Session{base, next}
	switch out.Result {
	case "ok":
		w.stale[id] = append(w.stale[id], w.known[id])
		if len(w.stale[id]) > 8 {
			w.stale[id] = w.stale[id][1:]
		}
		w.known[id], w.gone[id] = next, false
	default:
		w.reload[id] = true
	}
}

func (w *linWorker) delete(seq int, id string, foreign bool) {
	// Deletes and prunes are not cut on purpose: one whose effect is unknown may be
	// placed anywhere after its call, and each such one multiplies the orders the
	// checker must try. Killed processes and terminated backends still cut some.
	out := w.call(seq, linInput{Session: id, Op: "delete", Foreign: foreign}, func() linOutput {
		return linOutput{Result: result(w.view(id, foreign).Delete(context.Background(), id))}
	})
	if out.Result != "notfound" || !foreign {
		w.reload[id] = true
	}
}

func (w *linWorker) prune(seq int, id string, cut int64) {
	call := linCall{In: linInput{Session: id, Op: "prune", Cut: cut}, Call: monotonic(), Seq: seq}
	w.record(call)
	n, err := w.view(id, false).Prune(context.Background(), time.UnixMicro(cut))
	out := linOutput{Result: result(err), Count: min(n, 1)}
	call.Out, call.Return = &out, monotonic()
	w.record(call)
	// Prune deletes in batches, each a transaction of its own: a session of the same ID
	// created anew between two batches, and older than the cut too, is deleted by the
	// next. Each deletion past the first is a Delete of its own during the Prune.
	for k := 1; k < n; k++ {
		w.record(linCall{In: linInput{Session: id, Op: "delete"}, Out: &linOutput{Result: "ok"},
			Call: call.Call, Return: call.Return, Seq: -(seq*1000 + k)})
	}
	w.reload[id] = true
}

// load loads the session, whole or its last messages. A load that fails otherwise than
// by ErrNotFound is tried again, 3 times at most, since faults cut it; if it still
// fails, or fails with ErrCorrupt, its result is an error, which the model refuses.
func (w *linWorker) load(seq int, id string, foreign bool) {
	var s session.Session
	out := w.call(seq, linInput{Session: id, Op: "load", Foreign: foreign}, func() linOutput {
		var err error
		for try := 0; try < 3; try++ {
			if w.r.IntN(3) == 0 {
				s, err = w.view(id, foreign).LoadRecent(context.Background(), id, w.r.IntN(6))
			} else {
				s, err = w.view(id, foreign).Load(context.Background(), id)
			}
			if err == nil || errors.Is(err, sqlstore.ErrNotFound) || errors.Is(err, sqlstore.ErrCorrupt) {
				break
			}
		}
		out := linOutput{Result: result(err)}
		switch {
		case err == nil:
			out.Value, out.First, out.Sys = linHash(s), s.FirstIndex(), linSystem(s, false)
		case out.Result == "unknown":
			out.Result, out.Value = "error", err.Error()
		}
		return out
	})
	if foreign {
		return
	}
	switch out.Result {
	case "ok":
		w.known[id], w.reload[id], w.gone[id] = s, false, false
	case "notfound":
		delete(w.known, id)
		w.gone[id] = true
	}
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, sqlstore.ErrConflict):
		return "conflict"
	case errors.Is(err, sqlstore.ErrNotFound):
		return "notfound"
	}
	return "unknown" // cut by a fault: made or not
}

// linHistory collects the recorded calls of every worker.
type linHistory struct {
	mu    sync.Mutex
	calls map[[2]int]*linCall // by client and sequence number
}

func (h *linHistory) add(client int, c linCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls == nil {
		h.calls = map[[2]int]*linCall{}
	}
	h.calls[[2]int{client, c.Seq}] = &c
}

// operations returns the history for porcupine: a load whose process was killed
// before it returned is left out; a change cut by a fault, or whose process was
// killed, may take effect at any time after its call.
func (h *linHistory) operations() (ops []porcupine.Operation, unknown, fromProcesses int) {
	for key, c := range h.calls {
		if key[0] >= 1000 {
			fromProcesses++
		}
		out := c.Out
		ret := c.Return
		if out == nil || out.Result == "unknown" {
			if c.In.Op == "load" {
				continue
			}
			out, ret = &linOutput{Result: "unknown"}, math.MaxInt64
			unknown++
		}
		ops = append(ops, porcupine.Operation{ClientId: key[0], Input: c.In, Call: c.Call, Output: *out, Return: ret})
	}
	return ops, unknown, fromProcesses
}

func linSeconds(t *testing.T) time.Duration {
	if s := os.Getenv(linSecondsEnv); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, linSecondsEnv)
		return time.Duration(n) * time.Second
	}
	return 3 * time.Second
}

// The child processes of TestLinearizable run this test binary again.
const (
	linChildEnv = "SQLSTORE_LIN_CHILD" // the history file the child writes
	linIDsEnv   = "SQLSTORE_LIN_IDS"
	linSeedEnv  = "SQLSTORE_LIN_SEED"
)

// TestLinChild is a writer process of TestLinearizable: it makes calls until it is
// killed, writing each call and result to its history file as it goes.
func TestLinChild(t *testing.T) {
	path := os.Getenv(linChildEnv)
	if path == "" {
		t.Skip("runs only as the child of TestLinearizable")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fail(err)
	}
	db, err := sql.Open(os.Getenv(childDriver), os.Getenv(childDSN))
	if err != nil {
		fail(err)
	}
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		fail(err)
	}
	seed, _ := strconv.ParseUint(os.Getenv(linSeedEnv), 10, 64)
	w := newLinWorker(st, strings.Split(os.Getenv(linIDsEnv), ","), seed, true, func(c linCall) {
		line, err := json.Marshal(c)
		if err == nil {
			_, err = f.Write(append(line, '\n'))
		}
		if err != nil {
			fail(err)
		}
	})
	for seq := 0; ; seq++ {
		w.step(seq)
	}
}

// readChildHistory adds the calls a child wrote to h; the last line may be cut by the
// kill, and a child killed before it made its file made no call.
func readChildHistory(t *testing.T, h *linHistory, client int, path string) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c linCall
		if json.Unmarshal(sc.Bytes(), &c) == nil {
			h.add(client, c)
		}
	}
	require.NoError(t, sc.Err())
}

// runLin runs the workload on the store of dsn for d: goroutines, and, with processes,
// child processes killed and started again; on PostgreSQL, with terminate, a killer of
// the workers' backends. It returns the history.
func runLin(t *testing.T, b backend, dsn string, d time.Duration, goroutines int, processes, faults bool, prepare ...func(*sqlstore.Store)) *linHistory {
	st, _ := open(t, b.driver, dsn)
	for _, f := range prepare {
		f(st)
	}
	h := &linHistory{}
	var ids []string
	for i, s := range []session.Session{session.New("openai"), futureSession(t), session.New("")} {
		in := linInput{Session: s.ID(), Op: "commit", Next: linHash(s), NextUpdated: s.UpdatedAt().UnixMicro()}
		call := linCall{In: in, Call: monotonic(), Seq: i}
		require.NoError(t, st.ForOwner(linOwner(i)).Commit(ctx, session.Session{}, s))
		call.Out, call.Return = &linOutput{Result: "ok"}, monotonic()
		h.add(goroutines, call)
		ids = append(ids, s.ID())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		w := newLinWorker(st, ids, uint64(g)+uint64(time.Now().UnixNano()), faults, func(c linCall) { h.add(g, c) })
		wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				w.step(seq)
			}
		})
	}
	if faults && b.name == "postgres" {
		wg.Go(func() { terminateBackends(t, dsn, stop) })
	}
	if processes {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
			for client := 1000; ; client++ {
				path := filepath.Join(t.TempDir(), fmt.Sprint("child-", client))
				cmd := exec.Command(os.Args[0], "-test.run=^TestLinChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), childDriver+"="+b.driver, childDSN+"="+dsn, linChildEnv+"="+path,
					linIDsEnv+"="+strings.Join(ids, ","), linSeedEnv+"="+fmt.Sprint(r.Uint64()))
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-stop:
				case <-time.After(time.Duration(300+r.IntN(700)) * time.Millisecond):
				}
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				if strings.Contains(stderr.String(), "FAIL") || strings.Contains(stderr.String(), "panic") {
					t.Errorf("child %d: %s", client, stderr.String())
				}
				readChildHistory(t, h, client, path)
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	return h
}

// terminateBackends terminates a random backend of the workers' database now and then.
func terminateBackends(t *testing.T, dsn string, stop chan struct{}) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Error(err)
		return
	}
	defer admin.Close()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(100+r.IntN(300)) * time.Millisecond):
		}
		admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'sqlstore-lin'
			ORDER BY random() LIMIT 1`)
	}
}

// checkLin checks h with porcupine, writing a visualization of a failure.
func checkLin(t *testing.T, h *linHistory) porcupine.CheckResult {
	ops, unknown, fromProcesses := h.operations()
	res, info := porcupine.CheckOperationsVerbose(linModel, ops, 2*time.Minute)
	t.Logf("%d calls (%d by processes), %d of them cut by faults or kills: %s", len(ops), fromProcesses, unknown, res)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("sqlstore-lin-%d.html", time.Now().UnixNano()))
		if porcupine.VisualizePath(linModel, info, path) == nil {
			t.Logf("visualization: %s", path)
		}
	}
	return res
}

func TestLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs writers for seconds")
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.newDSN(t)
			if b.name == "postgres" {
				dsn += "&application_name=sqlstore-lin"
			}
			h := runLin(t, b, dsn, linSeconds(t), 4, true, true)
			assert.Equal(t, porcupine.Ok, checkLin(t, h))
		})
	}
}

// TestLinearizabilityCatchesABrokenStore breaks the store on purpose, with versions of
// the last message only, and checks that the same workload, without faults, gives a
// history the checker refuses.
func TestLinearizabilityCatchesABrokenStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs writers for seconds")
	}
	b := backends(t)[0]
	h := runLin(t, b, b.newDSN(t), 2*time.Second, 4, false, false, sqlstore.BreakVersions)
	assert.Equal(t, porcupine.Illegal, checkLin(t, h))
}
