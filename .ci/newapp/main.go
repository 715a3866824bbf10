// Command newapp is the program .ci/run builds in a new module outside the repository,
// following the README's install steps: the library and sqlstore on SQLite.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "newapp")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "chats.db")))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	st, err := sqlstore.Open(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	s := session.New("openai")
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}
	next := s.AddMessage("user", "Hello!")
	if err := st.Commit(ctx, s, next); err != nil {
		log.Fatal(err)
	}
	loaded, err := st.Load(ctx, s.ID())
	if err != nil {
		log.Fatal(err)
	}
	if loaded.Len() != 1 || loaded.MessageAt(0).Content != "Hello!" {
		log.Fatalf("loaded %d messages", loaded.Len())
	}
	fmt.Println("newapp: committed and loaded a turn")
}
