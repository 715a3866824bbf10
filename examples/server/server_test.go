package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/dsn"
	"github.com/exllm-go/session/internal/examplekit/llm"
	"github.com/exllm-go/session/sqlstore"
)

// postgresEnv names the variable that holds the DSN of a PostgreSQL server for the
// tests; the PostgreSQL tests are skipped when it is unset.
const postgresEnv = "SQLSTORE_POSTGRES_DSN"

// replica starts a server on the database of name, with a pool of its own, as another
// process would, answered by the local responder. It returns its URL and its store.
func replica(t testing.TB, name string) (string, *sqlstore.Store) {
	db, st, err := dsn.Open(context.Background(), name)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(newServer(st, llm.Local{}, 8192, 40, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// postgresDSN returns the DSN of a schema of its own in the test PostgreSQL server,
// dropped after the test, or "" without one.
func postgresDSN(t testing.TB) string {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Logf("%s is not set: PostgreSQL is not tested", postgresEnv)
		return ""
	}
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	defer admin.Close()
	schema := "srv_" + strings.ToLower(crand.Text()[:16])
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		if admin, err := sql.Open("pgx", base); err == nil {
			admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// call makes a request as owner ("" for none) and decodes the JSON answer.
func call(t testing.TB, method, url, owner string, body any) (int, map[string]any) {
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, in)
	require.NoError(t, err)
	if owner != "" {
		req.Header.Set(ownerHeader, owner)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "%s", data)
	}
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	base, _ := replica(t, "sqlite:"+filepath.Join(t.TempDir(), "server.db"))
	status, created := call(t, "POST", base+"/sessions", "alice", map[string]string{"name": "first"})
	require.Equal(t, http.StatusCreated, status, created)
	id := created["id"].(string)
	assert.Equal(t, "first", created["name"])

	status, turn := call(t, "POST", base+"/sessions/"+id+"/turns", "alice", map[string]string{"content": "Hello"})
	require.Equal(t, http.StatusOK, status, turn)
	msgs := turn["messages"].([]any)
	require.Len(t, msgs, 2)
	assert.Equal(t, "Hello", msgs[0].(map[string]any)["content"])
	assert.Contains(t, msgs[1].(map[string]any)["content"], `You said "Hello"`)

	status, info := call(t, "GET", base+"/sessions/"+id, "alice", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 2.0, info["messages"])
	status, page := call(t, "GET", base+"/sessions/"+id+"/messages?last=1", "alice", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 1.0, page["first"])
	assert.Len(t, page["messages"], 1)

	for _, tt := range []struct {
		method, path, owner string
		body                any
		want                int
	}{
		{"GET", "/sessions/" + id, "bob", nil, http.StatusNotFound},
		{"GET", "/sessions/" + id + "/messages", "bob", nil, http.StatusNotFound},
		{"POST", "/sessions/" + id + "/turns", "bob", map[string]string{"content": "mine now"}, http.StatusNotFound},
		{"DELETE", "/sessions/" + id, "bob", nil, http.StatusNotFound},
		{"GET", "/sessions/" + id, "", nil, http.StatusUnauthorized},
		{"POST", "/sessions/" + id + "/turns", "alice", map[string]string{"content": ""}, http.StatusBadRequest},
		{"POST", "/sessions/" + id + "/turns", "alice", map[string]any{"content": 5}, http.StatusBadRequest},
		{"POST", "/sessions/" + id + "/turns", "alice", map[string]any{"text": "x"}, http.StatusBadRequest},
		{"GET", "/sessions?limit=0", "alice", nil, http.StatusBadRequest},
		{"GET", "/sessions?after=garbage", "alice", nil, http.StatusBadRequest},
		{"GET", "/sessions/" + id + "/messages?last=x", "alice", nil, http.StatusBadRequest},
		{"GET", "/sessions/nope", "alice", nil, http.StatusNotFound},
	} {
		status, body := call(t, tt.method, base+tt.path, tt.owner, tt.body)
		assert.Equal(t, tt.want, status, "%s %s as %q: %v", tt.method, tt.path, tt.owner, body)
		assert.NotEmpty(t, body["error"], "%s %s as %q", tt.method, tt.path, tt.owner)
	}

	// Paging: bob's sessions only, two at a time.
	for i := range 3 {
		status, _ := call(t, "POST", base+"/sessions", "bob", map[string]string{"name": fmt.Sprint("bob ", i)})
		require.Equal(t, http.StatusCreated, status)
	}
	var names []string
	after := ""
	for range 3 {
		status, page := call(t, "GET", base+"/sessions?limit=2&after="+url.QueryEscape(after), "bob", nil)
		require.Equal(t, http.StatusOK, status, page)
		for _, s := range page["sessions"].([]any) {
			names = append(names, s.(map[string]any)["name"].(string))
		}
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	assert.Equal(t, []string{"bob 2", "bob 1", "bob 0"}, names)

	status, _ = call(t, "DELETE", base+"/sessions/"+id, "alice", nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, "GET", base+"/sessions/"+id, "alice", nil)
	assert.Equal(t, http.StatusNotFound, status)
}

// loadSeconds names the variable that sets how long TestReplicasUnderLoad drives its
// load: 10 seconds by default.
const loadSeconds = "SERVER_LOAD_SECONDS"

// TestReplicasUnderLoad starts two replicas on one database, PostgreSQL and a SQLite
// file, and drives 30 clients against them for a while: 4 owners with 3 sessions each,
// each client a turn after another on a random session of its owner through a random
// replica. Then it checks every session whole: every answered turn is there exactly
// once, its question and answer adjacent, no other turn is, the totals are the sum of
// the messages' usage, and no owner sees another's sessions.
func TestReplicasUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("drives load for seconds")
	}
	duration := 10 * time.Second
	if s, err := strconv.Atoi(os.Getenv(loadSeconds)); err == nil {
		duration = time.Duration(s) * time.Second
	}
	dbs := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "server.db")}
	if pg := postgresDSN(t); pg != "" {
		dbs["postgres"] = pg
	}
	for _, name := range []string{"sqlite", "postgres"} {
		if dbs[name] == "" {
			continue
		}
		t.Run(name, func(t *testing.T) { driveReplicas(t, dbs[name], duration) })
	}
}

func driveReplicas(t *testing.T, db string, duration time.Duration) {
	a, st := replica(t, db)
	b, _ := replica(t, db)
	replicas := []string{a, b}
	const owners, perOwner, clients = 4, 3, 30
	sessions := map[string][]string{} // by owner
	for o := range owners {
		owner := fmt.Sprint("user", o)
		for range perOwner {
			status, created := call(t, "POST", a+"/sessions", owner, map[string]string{})
			require.Equal(t, http.StatusCreated, status)
			sessions[owner] = append(sessions[owner], created["id"].(string))
		}
	}

	type result struct {
		session, content string
		status           int
		took             time.Duration
	}
	var mu sync.Mutex
	var results []result
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			owner := fmt.Sprint("user", c%owners)
			for i := 0; time.Now().Before(deadline); i++ {
				id := sessions[owner][r.IntN(perOwner)]
				content := fmt.Sprintf("client %d, turn %d", c, i)
				start := time.Now()
				status, _ := call(t, "POST", replicas[r.IntN(2)]+"/sessions/"+id+"/turns", owner, map[string]string{"content": content})
				mu.Lock()
				results = append(results, result{id, content, status, time.Since(start)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	answered := map[string]map[string]bool{} // by session, the contents answered
	var took []time.Duration
	for _, res := range results {
		require.Equal(t, http.StatusOK, res.status, "a request gave up: %+v", res)
		if answered[res.session] == nil {
			answered[res.session] = map[string]bool{}
		}
		answered[res.session][res.content] = true
		took = append(took, res.took)
	}
	slices.Sort(took)
	t.Logf("%d turns by %d clients through 2 replicas in %v: %.0f turns/s, p50 %v, p99 %v",
		len(results), clients, duration, float64(len(results))/duration.Seconds(),
		took[len(took)/2].Round(10*time.Microsecond), took[len(took)*99/100].Round(10*time.Microsecond))

	for owner, ids := range sessions {
		for _, id := range ids {
			s, err := st.Load(context.Background(), id)
			require.NoError(t, err)
			checkTurns(t, s, answered[id])
		}
		// No owner sees another's sessions, through either replica.
		for _, replica := range replicas {
			status, page := call(t, "GET", replica+"/sessions?limit=100", owner, nil)
			require.Equal(t, http.StatusOK, status)
			var listed []string
			for _, s := range page["sessions"].([]any) {
				listed = append(listed, s.(map[string]any)["id"].(string))
			}
			assert.ElementsMatch(t, ids, listed, "owner %s", owner)
			for other, theirs := range sessions {
				if other != owner {
					status, _ := call(t, "GET", replica+"/sessions/"+theirs[0]+"/messages", owner, nil)
					assert.Equal(t, http.StatusNotFound, status, "%s reads %s's session", owner, other)
				}
			}
		}
	}
}

// checkTurns checks that s holds exactly the turns whose contents are answered, once
// each, each question followed by its answer, and that its totals are the sum of its
// messages' usage.
func checkTurns(t *testing.T, s session.Session, answered map[string]bool) {
	t.Helper()
	msgs := s.GetMessages(0)
	require.Equal(t, 2*len(answered), len(msgs), "session %s", s.ID())
	seen := map[string]bool{}
	var sum session.TokenUsage
	for i := 0; i < len(msgs); i += 2 {
		q, a := msgs[i], msgs[i+1]
		require.Equal(t, "user", q.Role, "message %d", i)
		require.Equal(t, "assistant", a.Role, "message %d", i+1)
		require.True(t, strings.HasPrefix(a.Content, fmt.Sprintf("You said %q.", q.Content)), "message %d answers another question: %q after %q", i+1, a.Content, q.Content)
		require.True(t, answered[q.Content], "a turn no client had answered: %q", q.Content)
		require.False(t, seen[q.Content], "a turn twice: %q", q.Content)
		seen[q.Content] = true
		u := a.Usage()
		sum.InputTokens += u.InputTokens
		sum.OutputTokens += u.OutputTokens
	}
	assert.Equal(t, sum, s.TokenUsage(), "the totals are the sum of the messages' usage")
}

// TestErrorContract: every error is JSON, whatever the path, the method or the
// database; owners no database could hold are refused alike on both; a body is one
// JSON object of 1 MiB at most; the last page has no cursor; defaults and limits hold.
func TestErrorContract(t *testing.T) {
	dbs := []string{"sqlite:" + filepath.Join(t.TempDir(), "server.db")}
	if pg := postgresDSN(t); pg != "" {
		dbs = append(dbs, pg)
	}
	for _, db := range dbs {
		t.Run(strings.SplitN(db, ":", 2)[0], func(t *testing.T) {
			base, st := replica(t, db)
			status, created := call(t, "POST", base+"/sessions", "alice", map[string]string{"name": "x"})
			require.Equal(t, http.StatusCreated, status)
			id := created["id"].(string)

			raw := func(method, path, owner, contentType string, body io.Reader) (*http.Response, map[string]any) {
				req, err := http.NewRequest(method, base+path, body)
				require.NoError(t, err)
				if owner != "" {
					req.Header[ownerHeader] = []string{owner} // as it came, not canonical
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				data, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				var out map[string]any
				require.NoError(t, json.Unmarshal(data, &out), "%s %s: not JSON: %q", method, path, data)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				return resp, out
			}
			for _, tt := range []struct {
				name, method, path, owner, body string
				want                            int
			}{
				{"owner not UTF-8", "GET", "/sessions", "\xff", "", http.StatusUnauthorized},
				{"owner not UTF-8, a session", "GET", "/sessions/" + id, "caf\xc3", "", http.StatusUnauthorized},
				{"owner too long", "POST", "/sessions", strings.Repeat("u", sqlstore.MaxOwnerLength+1), "{}", http.StatusUnauthorized},
				{"method", "PUT", "/sessions", "alice", "{}", http.StatusMethodNotAllowed},
				{"method of a session", "PATCH", "/sessions/" + id, "alice", "{}", http.StatusMethodNotAllowed},
				{"method of turns", "GET", "/sessions/" + id + "/turns", "alice", "", http.StatusMethodNotAllowed},
				{"method of messages", "DELETE", "/sessions/" + id + "/messages", "alice", "", http.StatusMethodNotAllowed},
				{"path", "GET", "/nowhere", "alice", "", http.StatusNotFound},
				{"data after the object", "POST", "/sessions", "alice", `{"name":"a"} {"name":"b"}`, http.StatusBadRequest},
				{"garbage after the object", "POST", "/sessions/" + id + "/turns", "alice", `{"content":"a"}x`, http.StatusBadRequest},
				{"body too large", "POST", "/sessions/" + id + "/turns", "alice", `{"content":"` + strings.Repeat("a", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
				{"last over the limit", "GET", "/sessions/" + id + "/messages?last=1001", "alice", "", http.StatusBadRequest},
				{"limit over the limit", "GET", "/sessions?limit=1001", "alice", "", http.StatusBadRequest},
			} {
				resp, out := raw(tt.method, tt.path, tt.owner, "application/json", strings.NewReader(tt.body))
				assert.Equal(t, tt.want, resp.StatusCode, "%s: %v", tt.name, out)
				assert.NotEmpty(t, out["error"], tt.name)
				if tt.want == http.StatusMethodNotAllowed {
					assert.NotEmpty(t, resp.Header.Get("Allow"), tt.name)
				}
			}
			info, err := st.Info(context.Background(), id)
			require.NoError(t, err)
			assert.Zero(t, info.Len, "no refused turn was committed")

			// The last page has no cursor, even when it is full.
			for range 3 {
				status, _ := call(t, "POST", base+"/sessions", "carol", map[string]string{})
				require.Equal(t, http.StatusCreated, status)
			}
			status, page := call(t, "GET", base+"/sessions?limit=3", "carol", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, page["sessions"], 3)
			assert.Nil(t, page["next"], "the last page, full")
			status, page = call(t, "GET", base+"/sessions?limit=2", "carol", nil)
			require.Equal(t, http.StatusOK, status)
			require.NotEmpty(t, page["next"])
			status, page = call(t, "GET", base+"/sessions?limit=2&after="+url.QueryEscape(page["next"].(string)), "carol", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, page["sessions"], 1)
			assert.Nil(t, page["next"], "the last page")

			// Messages: the last 50 by default.
			s, err := st.ForOwner("alice").Load(context.Background(), id)
			require.NoError(t, err)
			next := s
			for i := range 60 {
				next = next.AddMessage("user", fmt.Sprint(i))
			}
			require.NoError(t, st.ForOwner("alice").Commit(context.Background(), s, next))
			status, page = call(t, "GET", base+"/sessions/"+id+"/messages", "alice", nil)
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, page["messages"], defaultLast)
			assert.Equal(t, float64(60-defaultLast), page["first"])
		})
	}
}

// TestBusyDatabase: a SQLite database another process keeps busy past the busy
// timeout gives 503 with Retry-After and no driver text; then it serves again.
func TestBusyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	short := strings.Replace(sqlstore.SQLiteDSN(path), "busy_timeout%2810000%29", "busy_timeout%28100%29", 1)
	require.NotEqual(t, sqlstore.SQLiteDSN(path), short, "the DSN sets the busy timeout")
	db, err := sql.Open("sqlite", short)
	require.NoError(t, err)
	defer db.Close()
	st, err := sqlstore.Open(context.Background(), db)
	require.NoError(t, err)
	srv := httptest.NewServer(newServer(st, llm.Local{}, 8192, 40, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()

	other, err := sql.Open("sqlite", sqlstore.SQLiteDSN(path))
	require.NoError(t, err)
	defer other.Close()
	tx, err := other.Begin() // BEGIN IMMEDIATE: the write lock
	require.NoError(t, err)
	_, err = tx.Exec("UPDATE sqlstore_schema SET version = version")
	require.NoError(t, err)

	req, err := http.NewRequest("POST", srv.URL+"/sessions", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set(ownerHeader, "alice")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", data)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.NotContains(t, string(data), "SQLITE")
	assert.NotContains(t, string(data), "locked")

	require.NoError(t, tx.Rollback())
	status, _ := call(t, "POST", srv.URL+"/sessions", "alice", map[string]string{})
	assert.Equal(t, http.StatusCreated, status)
}

func TestRedacted(t *testing.T) {
	assert.NotContains(t, redacted("postgres://user:secret@db.example/app?sslmode=disable"), "secret")
	assert.Contains(t, redacted("postgres://user:secret@db.example/app"), "user")
	assert.NotContains(t, redacted("postgres://user@db.example/app?password=secret"), "secret")
	assert.Equal(t, "sqlite:server.db", redacted("sqlite:server.db"))
}
