package session

import (
	"slices"
	"sync"
	"sync/atomic"
)

// tokensAt returns the sum of EstimateTokens over the first i messages of the
// conversation, for l.first() <= i <= l.len(), and whether it is known: it is not before
// a partial session's first message when the session does not know its prefix.
func (l messageLog) tokensAt(i int) (int, bool) {
	first := l.first()
	switch {
	case i == 0:
		return 0, true
	case i < first || i > l.len() || l.b.prefix.unknown:
		return 0, false
	case i == first:
		return l.b.prefix.tokens, true
	}
	n := i - first
	t := loadList(&l.b.tokens)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.list) < n {
		t.list = slices.Grow(t.list, n-len(t.list))
		sum := l.b.prefix.tokens
		if k := len(t.list); k > 0 {
			sum = t.list[k-1]
		}
		for k := len(t.list); k < n; k++ {
			// Slot k is one that l sees: written before l existed, and never again.
			sum += EstimateTokens(l.msgs[k])
			t.list = append(t.list, sum)
		}
	}
	return t.list[n-1], true
}

// prefixList holds what is computed of the first slots of a backing array, one value a
// slot, a prefix at a time, on demand: the chain digests (list[i] the digest of the
// slots up to i, see Session.Digest) and the estimated tokens (list[i] the sum of
// EstimateTokens over the prefix and the slots up to i).
type prefixList[T any] struct {
	mu   sync.Mutex
	list []T
}

// loadList returns the list p points to, making it if there is none yet.
func loadList[T any](p *atomic.Pointer[prefixList[T]]) *prefixList[T] {
	if l := p.Load(); l != nil {
		return l
	}
	p.CompareAndSwap(nil, new(prefixList[T]))
	return p.Load()
}

// upTo returns a list of the values computed so far of the first n slots at most, for
// an array that copies them; nil if there are none.
func (d *prefixList[T]) upTo(n int) *prefixList[T] {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := min(len(d.list), n)
	if k == 0 {
		return nil
	}
	return &prefixList[T]{list: append(make([]T, 0, k+k/4), d.list[:k]...)}
}
