package session

import (
	"slices"
	"sync"
)

// tokenList holds the estimated tokens of a backing array's first slots, summed: list[i]
// is the sum of EstimateTokens over the prefix and slots 0..i, computed on demand, a
// prefix at a time, as digestList is.
type tokenList struct {
	mu   sync.Mutex
	list []int
}

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
	t := l.b.tokens.Load()
	if t == nil {
		l.b.tokens.CompareAndSwap(nil, new(tokenList))
		t = l.b.tokens.Load()
	}
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

// upTo returns a list of the sums computed so far of the first n slots at most, for an
// array that copies them; nil if there are none.
func (t *tokenList) upTo(n int) *tokenList {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := min(len(t.list), n)
	if k == 0 {
		return nil
	}
	return &tokenList{list: append(make([]int, 0, k+k/4), t.list[:k]...)}
}
