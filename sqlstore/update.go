package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/exllm-go/session"
)

// An UpdateOption changes how [Store.Update] loads and retries. Only this package makes
// them; a nil one panics. As in package session, an option that sets a value is named
// With and the value ([WithRecent], [WithMaxAttempts]); one that turns on a behaviour
// says it ([RebaseAppends]).
type UpdateOption interface{ applyUpdate(*updateConfig) }

type updateOption func(*updateConfig)

func (f updateOption) applyUpdate(c *updateConfig) { f(c) }

type updateConfig struct {
	attempts int
	pause    time.Duration // the longest first pause; it doubles with each try
	recent   int           // the messages to load, or wholeSession
	rebase   bool
}

// defaultAttempts is how many times Update tries without WithMaxAttempts.
const defaultAttempts = 20

// WithMaxAttempts makes Update try at most n times (20 by default; at least 1).
func WithMaxAttempts(n int) UpdateOption {
	return updateOption(func(c *updateConfig) { c.attempts = max(n, 1) })
}

// WithRecent makes Update load only the last n messages of the session, as LoadRecent does
// (n < 0 counts as 0), so that a turn costs what n costs however long the conversation;
// change gets a partial session (see session.Session.FirstIndex).
func WithRecent(n int) UpdateOption {
	return updateOption(func(c *updateConfig) { c.recent = max(n, 0) })
}

// RebaseAppends makes Update, after a conflict, keep what change made rather than call
// it again, when change only appended messages and added usage (a turn) and the other
// writer only appended too (see session.Session.Rebase): the turn's messages are
// appended after the other writer's. A model's answer is then paid for once, at the
// price of an answer that did not see the messages committed meanwhile. Any other
// conflict calls change again.
func RebaseAppends() UpdateOption {
	return updateOption(func(c *updateConfig) { c.rebase = true })
}

// maxPause is the longest pause Update makes between two tries.
const maxPause = time.Second

// Update loads the session with the given ID (whole, or its last messages with WithRecent),
// applies change to it and commits what change returns: the loop every writer of a
// shared session needs. When another writer committed first (ErrConflict), it pauses for
// a random time that grows with each try, loads the session again and applies change
// again, WithMaxAttempts times at most; the error after the last try wraps ErrConflict. It
// returns the session as committed.
//
// change runs again after every conflict, on the session as the other writer left it,
// so a model call inside change is made, and paid, again. RebaseAppends avoids that
// for a turn that only appends, when the other writer only appended too; otherwise make
// the call before Update when the answer does not depend on the messages another writer
// may add, and let change only add it. An error of change ends Update, which returns it
// as it is, having written nothing. A change that returns its argument unchanged
// commits nothing.
func (st *Store) Update(ctx context.Context, id string, change func(session.Session) (session.Session, error), opts ...UpdateOption) (session.Session, error) {
	cfg := updateConfig{attempts: defaultAttempts, pause: 5 * time.Millisecond, recent: wholeSession}
	for _, opt := range opts {
		if opt == nil {
			panic("sqlstore: a nil UpdateOption")
		}
		opt.applyUpdate(&cfg)
	}
	load := func() (session.Session, error) {
		if cfg.recent == wholeSession {
			return st.Load(ctx, id)
		}
		return st.LoadRecent(ctx, id, cfg.recent)
	}
	pause := cfg.pause
	var made, from session.Session // what change made, from what, before a conflict
	for attempt := 1; ; attempt++ {
		base, err := load()
		if err != nil {
			return session.Session{}, err
		}
		next, rebased := base, false
		if cfg.rebase && !made.IsZero() {
			// Rebase must see that base extends from: load from the end of from on,
			// with room for the turns other writers commit meanwhile.
			for tries := 0; base.FirstIndex() > from.Len() && tries < 3; tries++ {
				if base, err = st.LoadRecent(ctx, id, 2*(base.Len()-from.Len())+cfg.recent); err != nil {
					return session.Session{}, err
				}
			}
			next, rebased = made.Rebase(from, base)
		}
		if !rebased {
			if next, err = change(base); err != nil {
				return session.Session{}, err
			}
			made, from = next, base
		}
		if next.Equal(base) {
			return base, nil
		}
		err = st.Commit(ctx, base, next)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return session.Session{}, err
		}
		if attempt >= cfg.attempts {
			return session.Session{}, fmt.Errorf("sqlstore: update %s: %d tries: %w", shortID(id), attempt, err)
		}
		// A random pause up to pause (full jitter), so that writers that met do not
		// meet again.
		select {
		case <-ctx.Done():
			return session.Session{}, fmt.Errorf("sqlstore: update %s: %w", shortID(id), withContext(ctx, err))
		case <-time.After(rand.N(pause) + time.Millisecond):
		}
		pause = min(2*pause, maxPause)
	}
}
