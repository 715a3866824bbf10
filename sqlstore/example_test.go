package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// openExample opens a store on a new SQLite file in a temporary directory, and returns
// a function that removes it.
func openExample() (*sqlstore.Store, func()) {
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "chats.db")))
	if err != nil {
		log.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), db)
	if err != nil {
		log.Fatal(err)
	}
	return st, func() { db.Close(); os.RemoveAll(dir) }
}

// A session is created by a commit from the zero Session, and each turn is a commit
// from the session as last committed: the store writes only the turn's messages.
func ExampleStore() {
	st, done := openExample()
	defer done()
	ctx := context.Background()

	s := session.New("openai")
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}
	next := s.AddMessage("user", "Hello!").AddMessage("assistant", "Hi there!")
	if err := st.Commit(ctx, s, next); err != nil {
		log.Fatal(err)
	}
	loaded, err := st.Load(ctx, s.ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loaded.Len(), loaded.Equal(next))
	// Output: 2 true
}

// Two writers change the same session: the second one's commit finds that the store no
// longer holds its base, and writes nothing.
func ExampleStore_Commit_conflict() {
	st, done := openExample()
	defer done()
	ctx := context.Background()
	s := session.New("openai")
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}

	mine := s.AddMessage("user", "from this server")
	theirs := s.AddMessage("user", "from another server")
	fmt.Println(st.Commit(ctx, s, theirs) == nil)
	err := st.Commit(ctx, s, mine)
	fmt.Println(errors.Is(err, sqlstore.ErrConflict))

	// Load again and redo the change on what the store holds.
	cur, err := st.Load(ctx, s.ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Commit(ctx, cur, cur.AddMessage("user", "from this server")) == nil)
	// Output:
	// true
	// true
	// true
}

// Update is the load, change and commit loop: after a conflict it loads the session
// again and applies the change again.
func ExampleStore_Update() {
	st, done := openExample()
	defer done()
	ctx := context.Background()
	s := session.New("openai")
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}
	updated, err := st.Update(ctx, s.ID(), func(cur session.Session) (session.Session, error) {
		return cur.AddMessage("user", "What time is it?").AddMessage("assistant", "Noon."), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	last, _ := updated.LastMessage()
	fmt.Println(updated.Len(), last.Content)
	// Output: 2 Noon.
}

// A service gives each request a view of its user's sessions: it lists and opens
// them only. List goes a page at a time, with the cursor of the last session of a page.
func ExampleStore_ForOwner() {
	st, done := openExample()
	defer done()
	ctx := context.Background()
	alice, bob := st.ForOwner("alice"), st.ForOwner("bob")
	for i := range 5 {
		if err := alice.Commit(ctx, session.Session{}, session.New("openai", session.WithName(fmt.Sprint("chat ", i)))); err != nil {
			log.Fatal(err)
		}
	}
	secret := session.New("openai", session.WithName("bob's"))
	if err := bob.Commit(ctx, session.Session{}, secret); err != nil {
		log.Fatal(err)
	}

	after := ""
	for page := 1; ; page++ {
		var names []string
		for info, err := range alice.List(ctx, sqlstore.ListOptions{Limit: 2, After: after}) {
			if err != nil {
				log.Fatal(err)
			}
			names = append(names, info.Name)
			after = info.Cursor()
		}
		fmt.Println("page", page, names)
		if len(names) < 2 {
			break
		}
	}
	_, err := alice.Load(ctx, secret.ID())
	fmt.Println(errors.Is(err, sqlstore.ErrNotFound))
	// Output:
	// page 1 [chat 4 chat 3]
	// page 2 [chat 2 chat 1]
	// page 3 [chat 0]
	// true
}

// A stateless server reads only the end of a long conversation for a turn: the window it
// sends, and the base of the commit. The turn costs the same at any length.
func ExampleStore_LoadRecent() {
	st, done := openExample()
	defer done()
	ctx := context.Background()
	s := session.New("openai")
	for i := range 1000 {
		s = s.AddMessage("user", fmt.Sprint("question ", i)).AddMessage("assistant", fmt.Sprint("answer ", i))
	}
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}

	recent, err := st.LoadRecent(ctx, s.ID(), 40)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(recent.Len(), recent.FirstIndex(), len(recent.Window(100, nil)))
	next := recent.AddMessage("user", "And now?").AddMessage("assistant", "Now this.")
	if err := st.Commit(ctx, recent, next); err != nil {
		log.Fatal(err)
	}
	whole, err := st.Load(ctx, s.ID())
	if err != nil {
		log.Fatal(err)
	}
	last, _ := whole.LastMessage()
	fmt.Println(whole.Len(), last.Content)
	// Output:
	// 2000 1960 11
	// 2002 Now this.
}

// With Recent, Update loads only the last messages; with RebaseAppends, a turn that lost
// the race to another writer's turn is appended after it, without asking the model
// again.
func ExampleStore_Update_recent() {
	st, done := openExample()
	defer done()
	ctx := context.Background()
	s := session.New("openai").AddMessage("user", "Hello")
	if err := st.Commit(ctx, session.Session{}, s); err != nil {
		log.Fatal(err)
	}
	asked := 0
	updated, err := st.Update(ctx, s.ID(), func(cur session.Session) (session.Session, error) {
		asked++
		if asked == 1 { // another replica answers first, this once
			if err := st.Commit(ctx, cur, cur.AddMessage("assistant", "Hi from elsewhere")); err != nil {
				return cur, err
			}
		}
		return cur.AddMessage("assistant", "Hi"), nil
	}, sqlstore.WithRecent(10), sqlstore.RebaseAppends())
	if err != nil {
		log.Fatal(err)
	}
	for m := range updated.Messages() {
		fmt.Println(m.Role, m.Content)
	}
	fmt.Println("the model was asked", asked, "time")
	// Output:
	// user Hello
	// assistant Hi from elsewhere
	// assistant Hi
	// the model was asked 1 time
}
