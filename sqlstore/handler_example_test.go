package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// askModel stands for a model call: a real one sends window to a provider.
func askModel(ctx context.Context, window []session.Message) (string, session.TokenUsage, error) {
	last := window[len(window)-1]
	return "You said: " + last.Content, session.TokenUsage{InputTokens: 12, OutputTokens: 4}, nil
}

// turnHandler serves one turn of a chat, POST /sessions/{id}/turns {"content": "..."},
// on a stateless replica: it reads the last messages only, asks the model once, and
// commits, appending after another writer's turn if one came first.
func turnHandler(st *sqlstore.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Content string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Content == "" {
			writeError(w, http.StatusBadRequest, `give {"content": "..."}`)
			return
		}
		ctx, view := r.Context(), st.ForOwner(r.Header.Get("X-User")) // your authentication's user
		next, err := view.Update(ctx, r.PathValue("id"), func(s session.Session) (session.Session, error) {
			asked := s.AddMessage("user", req.Content)
			text, usage, err := askModel(ctx, asked.Window(8000, nil, session.KeepSystem()))
			if err != nil {
				return session.Session{}, err
			}
			return asked.AddMessage("assistant", text, session.WithUsage(usage)), nil
		}, sqlstore.WithRecent(40), sqlstore.RebaseAppends())
		switch {
		case err == nil:
			answer, _ := next.LastMessage()
			json.NewEncoder(w).Encode(map[string]string{"answer": answer.Content})
		case errors.Is(err, sqlstore.ErrInvalidOwner):
			writeError(w, http.StatusUnauthorized, "who are you?")
		case errors.Is(err, sqlstore.ErrNotFound):
			writeError(w, http.StatusNotFound, "no such session")
		case errors.Is(err, sqlstore.ErrBusy):
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "busy, try again")
		case errors.Is(err, sqlstore.ErrConflict): // other writers won WithMaxAttempts times
			writeError(w, http.StatusConflict, "too many writers")
		case r.Context().Err() != nil: // the client went away: no one to answer
		default: // ErrCorrupt, the model, the database: log it, answer nothing of it
			log.Print(err)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}
}

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// One turn in your own HTTP handler, with the store's errors mapped to statuses.
func ExampleStore_Update_httpHandler() {
	st, done := openExample()
	defer done()
	s := session.New("openai")
	if err := st.ForOwner("alice").Commit(context.Background(), session.Session{}, s); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sessions/{id}/turns", turnHandler(st))
	for _, user := range []string{"alice", "bob", ""} {
		req := httptest.NewRequest("POST", "/sessions/"+s.ID()+"/turns", strings.NewReader(`{"content":"Hello"}`))
		req.Header.Set("X-User", user)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Printf("%q: %d %s", user, rec.Code, rec.Body)
	}
	// Output:
	// "alice": 200 {"answer":"You said: Hello"}
	// "bob": 404 {"error":"no such session"}
	// "": 401 {"error":"who are you?"}
}
