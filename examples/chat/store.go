package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/dsn"
	"github.com/exllm-go/session/sqlstore"
)

// store is where the chat keeps its sessions: a JSON file, or a sqlstore.
type store interface {
	// commit saves next, made from base (the zero Session if base was never saved).
	commit(ctx context.Context, base, next session.Session) error
	// update saves change(base), base being the saved session as the chat holds it; if
	// another chat changed the session meanwhile (in a database), it applies change to the
	// session as stored instead, attempts times in all at most, as sqlstore.Update does.
	update(ctx context.Context, base session.Session, change func(session.Session) (session.Session, error), attempts int) (session.Session, error)
	// load returns the saved session with the given ID.
	load(ctx context.Context, id string) (session.Session, error)
	// list returns the saved sessions, newest first, or an error if the store keeps one.
	list(ctx context.Context, limit int) ([]sqlstore.Info, error)
	// close releases what the store holds open.
	close() error
	// String says where the sessions are kept.
	String() string
}

// fileStore keeps one session in a JSON file, ExLLM's format.
type fileStore struct{ path string }

// openFileStore returns the store of the file at path, after checking that a session can
// be saved there, so that no turn is lost to a path that cannot be written.
func openFileStore(path string) (*fileStore, error) {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot keep the session in %s: the directory %s does not exist; create it (mkdir -p %s) or pass another -file", path, dir, dir)
	case err != nil:
		return nil, fmt.Errorf("cannot keep the session in %s: %w", path, err)
	case !info.IsDir():
		return nil, fmt.Errorf("cannot keep the session in %s: %s is not a directory; pass another -file", path, dir)
	}
	probe, err := os.CreateTemp(dir, ".chat-probe-*")
	if err != nil {
		return nil, fmt.Errorf("cannot keep the session in %s: the directory cannot be written (%w); pass another -file", path, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &fileStore{path: path}, nil
}

func (f *fileStore) commit(_ context.Context, _, next session.Session) error {
	return next.SaveToFile(f.path)
}

func (f *fileStore) update(_ context.Context, base session.Session, change func(session.Session) (session.Session, error), _ int) (session.Session, error) {
	next, err := change(base)
	if err != nil {
		return session.Session{}, err
	}
	return next, next.SaveToFile(f.path)
}

func (f *fileStore) load(context.Context, string) (session.Session, error) {
	return session.LoadFromFile(f.path)
}

func (f *fileStore) list(context.Context, int) ([]sqlstore.Info, error) {
	return nil, fmt.Errorf("this chat keeps one session, in %s; run it with -db to keep many", f.path)
}

func (f *fileStore) close() error { return nil }

func (f *fileStore) String() string { return f.path }

// dbStore keeps sessions in a database with sqlstore.
type dbStore struct {
	dsn string
	db  *sql.DB
	st  *sqlstore.Store
}

// openDBStore opens the database of dsn: "sqlite:PATH" or a postgres:// URL.
func openDBStore(ctx context.Context, name string) (*dbStore, error) {
	db, st, err := dsn.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("-db %w", err)
	}
	return &dbStore{dsn: name, db: db, st: st}, nil
}

func (d *dbStore) commit(ctx context.Context, base, next session.Session) error {
	return d.st.Commit(ctx, base, next)
}

func (d *dbStore) update(ctx context.Context, base session.Session, change func(session.Session) (session.Session, error), attempts int) (session.Session, error) {
	next, err := change(base)
	if err != nil {
		return session.Session{}, err
	}
	if err := d.st.Commit(ctx, base, next); !errors.Is(err, sqlstore.ErrConflict) || attempts <= 1 {
		return next, err
	}
	return d.st.Update(ctx, base.ID(), change, sqlstore.WithMaxAttempts(attempts-1))
}

func (d *dbStore) load(ctx context.Context, id string) (session.Session, error) {
	return d.st.Load(ctx, id)
}

func (d *dbStore) list(ctx context.Context, limit int) ([]sqlstore.Info, error) {
	var infos []sqlstore.Info
	for info, err := range d.st.List(ctx, sqlstore.ListOptions{Limit: limit}) {
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// close closes the database: SQLite then copies its WAL into the database file.
func (d *dbStore) close() error { return d.db.Close() }

func (d *dbStore) String() string {
	if strings.HasPrefix(d.dsn, "sqlite:") {
		return d.dsn
	}
	return "the PostgreSQL database"
}
