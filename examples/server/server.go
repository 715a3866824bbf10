package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/llm"
	"github.com/exllm-go/session/sqlstore"
)

// ownerHeader carries the owner of a request: the stand-in for authentication.
const ownerHeader = "X-User"

// busyTries is how many times a turn tries to commit its answer while the database is
// busy.
const busyTries = 5

// maxBody is the largest request body the server reads.
const maxBody = 1 << 20

// server serves the API on a store, keeping nothing between requests.
type server struct {
	st     *sqlstore.Store
	model  llm.Model
	window int // the tokens of history sent to the model
	recent int // the messages a turn loads
	log    *slog.Logger
}

func newServer(st *sqlstore.Store, model llm.Model, window, recent int, log *slog.Logger) http.Handler {
	s := &server{st: st, model: model, window: window, recent: recent, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sessions", s.owned(s.create))
	mux.HandleFunc("GET /sessions", s.owned(s.list))
	mux.HandleFunc("GET /sessions/{id}", s.owned(s.info))
	mux.HandleFunc("GET /sessions/{id}/messages", s.owned(s.messages))
	mux.HandleFunc("POST /sessions/{id}/turns", s.owned(s.turn))
	mux.HandleFunc("DELETE /sessions/{id}", s.owned(s.delete))
	// The other methods of each path, and the other paths, get an error in JSON too.
	for path, allowed := range map[string]string{
		"/sessions":               "GET, POST",
		"/sessions/{id}":          "GET, DELETE",
		"/sessions/{id}/messages": "GET",
		"/sessions/{id}/turns":    "POST",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{r.Method + " is not allowed here: " + allowed})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such path: " + r.URL.Path})
	})
	return mux
}

// handler is a handler of a request of an owner, given the owner's view of the store.
// It returns the status and the JSON value to answer, or an error.
type handler func(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error)

// owned returns the http.HandlerFunc of h: it takes the owner from the request, and
// writes h's answer or error as JSON. An error of the database is logged and answered
// without its text, which is the server's business, not the client's.
func (s *server) owned(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		owner := r.Header.Get(ownerHeader)
		if owner == "" {
			writeJSON(w, http.StatusUnauthorized, errorBody{"the request has no " + ownerHeader + " header (the stand-in for authentication)"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		status, body, err := h(r.Context(), s.st.ForOwner(owner), r)
		if err != nil {
			status = statusOf(err)
			body = errorBody{err.Error()}
			switch status {
			case http.StatusServiceUnavailable:
				w.Header().Set("Retry-After", "1")
				body = errorBody{"the database is busy: try again"}
			case http.StatusInternalServerError:
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				body = errorBody{"internal error"}
			case http.StatusUnauthorized:
				body = errorBody{"the " + ownerHeader + " header is not a valid owner: 1 to " + strconv.Itoa(sqlstore.MaxOwnerLength) + " bytes of UTF-8, no NUL"}
			}
		}
		writeJSON(w, status, body)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

// badRequest is an error in the request.
type badRequest struct{ error }

// tooLarge is a request body over maxBody.
type tooLarge struct{ error }

// modelError is a failure of the model.
type modelError struct{ error }

// statusOf returns the HTTP status of an error.
func statusOf(err error) int {
	var bad badRequest
	var large tooLarge
	var model modelError
	switch {
	case errors.Is(err, sqlstore.ErrInvalidOwner):
		return http.StatusUnauthorized
	case errors.As(err, &large):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &bad), errors.Is(err, sqlstore.ErrBadCursor):
		return http.StatusBadRequest
	case errors.Is(err, sqlstore.ErrNotFound), errors.Is(err, sqlstore.ErrInvalidID):
		return http.StatusNotFound
	case errors.Is(err, sqlstore.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, sqlstore.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.As(err, &model):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// readJSON decodes the request's body, one JSON object and nothing after it, into v.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, after := dec.Token(); after != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	var large *http.MaxBytesError
	switch {
	case errors.As(err, &large):
		return tooLarge{fmt.Errorf("the request's body is over %d bytes", large.Limit)}
	case err != nil:
		return badRequest{fmt.Errorf("the request's body: %w", err)}
	}
	return nil
}

// sessionInfo is a session's info as the API gives it.
type sessionInfo struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Messages  int                `json:"messages"`
	Usage     session.TokenUsage `json:"usage"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

func infoOf(i sqlstore.Info) sessionInfo {
	return sessionInfo{ID: i.ID, Name: i.Name, Messages: i.Len, Usage: i.Usage, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt}
}

func infoOfSession(s session.Session) sessionInfo {
	return sessionInfo{ID: s.ID(), Name: s.Name(), Messages: s.Len(), Usage: s.TokenUsage(), CreatedAt: s.CreatedAt(), UpdatedAt: s.UpdatedAt()}
}

func (s *server) create(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := readJSON(r, &req); err != nil {
		return 0, nil, err
	}
	created := session.New(s.backend(), session.WithName(req.Name))
	if err := st.Commit(ctx, session.Session{}, created); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, infoOfSession(created), nil
}

func (s *server) backend() string {
	if _, ok := s.model.(llm.Local); ok {
		return "local"
	}
	return "openai"
}

// Listing limits: a page holds defaultLimit sessions unless limit says otherwise, and
// maxLimit at most.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

func (s *server) list(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	limit := defaultLimit
	if text := r.URL.Query().Get("limit"); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n <= 0 || n > maxLimit {
			return 0, nil, badRequest{fmt.Errorf("limit %q: give a number from 1 to %d", text, maxLimit)}
		}
		limit = n
	}
	page := struct {
		Sessions []sessionInfo `json:"sessions"`
		Next     string        `json:"next,omitempty"` // the cursor of the next page; none on the last
	}{Sessions: []sessionInfo{}}
	// One more than the page, to know whether there is a next one.
	var last sqlstore.Info
	for info, err := range st.List(ctx, sqlstore.ListOptions{Limit: limit + 1, After: r.URL.Query().Get("after")}) {
		if err != nil {
			return 0, nil, err
		}
		if len(page.Sessions) == limit {
			page.Next = last.Cursor()
			break
		}
		page.Sessions = append(page.Sessions, infoOf(info))
		last = info
	}
	return http.StatusOK, page, nil
}

func (s *server) info(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	info, err := st.Info(ctx, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, infoOf(info), nil
}

// message is a message as the API gives it.
type message struct {
	Role      string              `json:"role"`
	Content   string              `json:"content"`
	Timestamp time.Time           `json:"timestamp"`
	Usage     *session.TokenUsage `json:"usage,omitempty"`
}

func messageOf(m session.Message) message {
	out := message{Role: m.Role, Content: m.Content, Timestamp: m.Timestamp}
	if u := m.Usage(); !u.IsZero() {
		out.Usage = &u
	}
	return out
}

// The messages a page gives: the last defaultLast unless last says otherwise, and
// maxLast at most.
const (
	defaultLast = 50
	maxLast     = 1000
)

func (s *server) messages(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	last := defaultLast
	if text := r.URL.Query().Get("last"); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 || n > maxLast {
			return 0, nil, badRequest{fmt.Errorf("last %q: give a number of messages from 0 to %d", text, maxLast)}
		}
		last = n
	}
	recent, err := st.LoadRecent(ctx, r.PathValue("id"), last)
	if err != nil {
		return 0, nil, err
	}
	page := struct {
		First    int       `json:"first"` // the index of the first message given
		Messages []message `json:"messages"`
	}{First: recent.FirstIndex(), Messages: []message{}}
	for m := range recent.Messages() {
		page.Messages = append(page.Messages, messageOf(m))
	}
	return http.StatusOK, page, nil
}

// turn adds the request's user message to the session, asks the model about the last
// messages, and commits the question and the answer. The model is asked once: if
// another request committed to the session meanwhile, the turn is appended after what
// it committed (sqlstore.Update, with a change that only appends), an answer that did
// not see those messages.
func (s *server) turn(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	var req struct {
		Content string `json:"content"`
	}
	if err := readJSON(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Content == "" {
		return 0, nil, badRequest{errors.New("the turn's content is empty")}
	}
	id := r.PathValue("id")
	base, err := st.LoadRecent(ctx, id, s.recent)
	if err != nil {
		return 0, nil, err
	}
	asked := base.AddMessage("user", req.Content)
	question, _ := asked.LastMessage()
	window := asked.Window(s.window, s.model.Count, session.KeepSystem())
	if len(window) == 0 || !window[len(window)-1].Equal(question) {
		return 0, nil, badRequest{fmt.Errorf("the message does not fit in the model's window of %d tokens", s.window)}
	}
	a, err := s.model.Answer(llm.WithCacheKey(ctx, id), window, func(string) {})
	if err != nil {
		return 0, nil, modelError{err}
	}
	next := asked.AddMessage("assistant", a.Content, answerOptions(a)...)
	answer, _ := next.LastMessage()
	// The answer is paid for: a database busy for a while is waited out, within the
	// request's time. A Commit tried again is made once.
	for try := 1; ; try++ {
		err = st.Commit(ctx, base, next)
		if errors.Is(err, sqlstore.ErrConflict) {
			_, err = st.Update(ctx, id, func(cur session.Session) (session.Session, error) {
				return cur.AppendMessages(question, answer), nil
			}, sqlstore.WithRecent(0))
		}
		if !errors.Is(err, sqlstore.ErrBusy) || try == busyTries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rand.N(100)+50) * time.Millisecond):
		}
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		Messages []message          `json:"messages"`
		Usage    session.TokenUsage `json:"usage"`
	}{[]message{messageOf(question), messageOf(answer)}, a.Usage}, nil
}

// answerOptions returns the options of the message that records answer a.
func answerOptions(a llm.Answer) []session.MessageOption {
	opts := append(a.Options[:len(a.Options):len(a.Options)], session.WithUsage(a.Usage))
	if a.Estimated {
		opts = append(opts, session.WithExtra("token_usage_estimated", true))
	}
	return opts
}

func (s *server) delete(ctx context.Context, st *sqlstore.Store, r *http.Request) (int, any, error) {
	if err := st.Delete(ctx, r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
