// Command server is a small JSON-over-HTTP chat service on the session library and its
// store: the example of a stateless replica. It keeps nothing in memory between
// requests, so that any number of replicas can serve one PostgreSQL database behind a
// load balancer; each turn reads only the last messages of its session (LoadRecent),
// asks the model, and commits the turn exactly, retrying with sqlstore.Update when
// another replica committed to the session first.
//
//	go run ./examples/server                                # SQLite in server.db, the local responder
//	go run ./examples/server -db postgres://user@host/db    # PostgreSQL, for several replicas
//	go run ./examples/server -base-url http://localhost:11434/v1 -model llama3.2
//
// Sessions belong to owners. The owner of a request is the value of its X-User header:
// a stand-in for the caller's authentication, which a real service does in front of
// this code (a session cookie, a token) and then passes on the same way. A request
// without it is refused (401); a session of another owner is not found (404).
//
// The API, in JSON:
//
//	POST   /sessions                      {"name": "..."}        → 201, the session's info
//	GET    /sessions?limit=N&after=CURSOR                         → {"sessions": [info...], "next": CURSOR}
//	GET    /sessions/{id}                                         → the session's info
//	GET    /sessions/{id}/messages?last=N                         → {"messages": [...], "first": INDEX}
//	POST   /sessions/{id}/turns           {"content": "..."}     → {"messages": [user, assistant], "usage": {...}}
//	DELETE /sessions/{id}                                         → 204
//
// A listing gives 50 sessions, newest first, unless limit says otherwise (1 to 1000),
// and "next", the cursor of the next page, unless it is the last; messages gives the
// last 50 messages unless last says otherwise (0 to 1000), and the index of the first
// it gives. A request body is one JSON object of 1 MiB at most, with no unknown field
// and nothing after it.
//
// Errors are {"error": "..."}, whatever the path and method: 400 for a bad request, 401
// without an owner or with one no database could hold, 404 for a session or path not
// found, 405 for a method a path does not take (with Allow), 409 when a turn lost the
// race to other writers too often, 413 for a body over 1 MiB, 502 when the model
// failed, 503 with Retry-After when the database stayed busy (SQLite, under many
// writers), and 500 otherwise, whose cause is logged, not answered.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/exllm-go/session/internal/examplekit/dsn"
	"github.com/exllm-go/session/internal/examplekit/llm"
)

// redacted returns the database flag as a log may show it: a URL without its password.
func redacted(db string) string {
	u, err := url.Parse(db)
	switch {
	case err != nil:
		return "(a URL that does not parse)"
	case u.Opaque != "":
		return db
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run runs the server until SIGINT or SIGTERM and returns the exit status.
func run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("server", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "listen on this `address`")
	db := flags.String("db", "sqlite:server.db", "the database: sqlite:`PATH`, or a postgres:// URL for several replicas")
	provider := flags.String("provider", llm.ProviderOpenAI, "the model's API: openai (Chat Completions), openai-responses, anthropic or gemini")
	baseURL := flags.String("base-url", "", "the provider's endpoint (`URL`); without it and -model, the local responder")
	modelName := flags.String("model", "", "the `model` to ask (API key in OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY)")
	window := flags.Int("window", 8192, "the model's context window, in `tokens`, less room for its answer")
	recent := flags.Int("recent", 40, "the last `N` messages a turn loads, from which its window is chosen")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	model, err := llm.Choose(*provider, *baseURL, *modelName)
	if err != nil {
		log.Error("server: " + err.Error())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sqlDB, st, err := dsn.Open(ctx, *db)
	if err != nil {
		log.Error("server: -db " + err.Error())
		return 1
	}
	defer sqlDB.Close()

	srv := &http.Server{
		Handler:           newServer(st, model, *window, *recent, log),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("server: " + err.Error())
		return 1
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", redacted(*db), "model", model.Name())
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	select {
	case err := <-errs:
		log.Error("server: " + err.Error())
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Error("server: shutting down: " + err.Error())
		return 1
	}
	return 0
}
