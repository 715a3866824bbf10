package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/exllm-go/session"
)

// An UpdateOption changes how Update retries. Only this package makes them.
type UpdateOption interface{ applyUpdate(*updateConfig) }

type updateOption func(*updateConfig)

func (f updateOption) applyUpdate(c *updateConfig) { f(c) }

type updateConfig struct {
	attempts int
	pause    time.Duration // the longest first pause; it doubles with each try
}

// MaxAttempts makes Update try at most n times (10 by default; at least 1).
func MaxAttempts(n int) UpdateOption {
	return updateOption(func(c *updateConfig) { c.attempts = max(n, 1) })
}

// maxPause is the longest pause Update makes between two tries.
const maxPause = time.Second

// Update loads the session with the given ID, applies change to it and commits what
// change returns: the loop every writer of a shared session needs. When another writer
// committed first (ErrConflict), it pauses for a random time that grows with each try,
// loads the session again and applies change again, MaxAttempts times at most; the error
// after the last try wraps ErrConflict. It returns the session as committed.
//
// change runs again after every conflict, on the session as the other writer left it,
// so a model call inside change is made, and paid, again: make the call before Update
// when the answer does not depend on the messages another writer may add, and let change
// only add it. An error of change ends Update, which returns it as it is, having written
// nothing. A change that returns its argument unchanged commits nothing.
func (st *Store) Update(ctx context.Context, id string, change func(session.Session) (session.Session, error), opts ...UpdateOption) (session.Session, error) {
	cfg := updateConfig{attempts: 10, pause: 5 * time.Millisecond}
	for _, opt := range opts {
		if opt != nil {
			opt.applyUpdate(&cfg)
		}
	}
	pause := cfg.pause
	for attempt := 1; ; attempt++ {
		base, err := st.Load(ctx, id)
		if err != nil {
			return session.Session{}, err
		}
		next, err := change(base)
		if err != nil {
			return session.Session{}, err
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
