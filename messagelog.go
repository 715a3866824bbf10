package session

import (
	"math"
	"sync/atomic"
)

// messageLog is the message storage of a Session: a view of the first len(msgs) slots of
// a backing array that many sessions may share.
//
// The invariant that makes sharing safe: a slot of a backing array is written once, by
// the one append that claimed it, and never again; backing.claimed counts the slots
// claimed so far, and never decreases. A session may append in place only at slot
// len(msgs) and only by moving claimed from len(msgs) to len(msgs)+1 atomically. Every
// other session sharing the array sees at most its own len(msgs) slots, all claimed and
// written before that session existed, so no write is ever seen by a session that did
// not make it. When the claim fails (another session already appended there: a branch,
// or a longer session that this one was truncated from) or the array is full, the append
// copies the view into a new array with a backing of its own.
type messageLog struct {
	msgs []Message
	b    *backing // nil when msgs is nil
}

// backing is what the sessions sharing one backing array share besides it.
type backing struct {
	claimed atomic.Int64
	// copiedFrom lists the arrays whose first n slots this array's first n slots are
	// copies of, the arrays this one was grown from, oldest first. Never modified. It
	// holds their backings, not the arrays, so that it keeps no messages alive.
	copiedFrom []copied
}

type copied struct {
	from *backing
	n    int
}

func (l messageLog) len() int { return len(l.msgs) }

// view returns the messages of the log. The caller must not modify or append to it.
func (l messageLog) view() []Message { return l.msgs }

func (l messageLog) append(m Message) messageLog {
	n := len(l.msgs)
	if n < cap(l.msgs) && l.b.claimed.CompareAndSwap(int64(n), int64(n+1)) {
		msgs := l.msgs[:n+1]
		msgs[n] = m
		return messageLog{msgs: msgs, b: l.b}
	}
	// Clip so that append must copy into a new array and grows it geometrically.
	msgs := append(l.msgs[:n:n], m)
	b := new(backing)
	b.claimed.Store(int64(n + 1))
	if l.b != nil {
		// What l's array copied, this one copies only as far as l sees.
		b.copiedFrom = make([]copied, 0, len(l.b.copiedFrom)+1)
		for _, c := range l.b.copiedFrom {
			b.copiedFrom = append(b.copiedFrom, copied{c.from, min(c.n, n)})
		}
		b.copiedFrom = append(b.copiedFrom, copied{l.b, n})
	}
	return messageLog{msgs: msgs, b: b}
}

// truncate returns the log of the first n messages of l, 0 <= n <= l.len(), sharing
// its array: claimed is at least l.len() > n, so no append to the result can claim a slot
// that l sees.
func (l messageLog) truncate(n int) messageLog {
	if n == 0 {
		return messageLog{}
	}
	return messageLog{msgs: l.msgs[:n], b: l.b}
}

// newMessageLog returns a log holding msgs, which the caller gives up.
func newMessageLog(msgs []Message) messageLog {
	if len(msgs) == 0 {
		return messageLog{}
	}
	b := new(backing)
	b.claimed.Store(int64(len(msgs)))
	return messageLog{msgs: msgs, b: b}
}

// commonPrefix returns how many leading messages l and o have in common. Where the
// logs were grown from one another, or from a common one, by append and truncate, the
// slots they share or copied from the same array are known to be the same without
// looking at them.
func (l messageLog) commonPrefix(o messageLog) int {
	n := min(len(l.msgs), len(o.msgs))
	known := 0
	if n > 0 {
		l.b.lineage(func(a *backing, la int) {
			o.b.lineage(func(b *backing, lb int) {
				if a == b {
					known = max(known, min(la, lb, n))
				}
			})
		})
	}
	for known < n && l.msgs[known].Equal(o.msgs[known]) {
		known++
	}
	return known
}

// lineage calls f for each array whose leading slots b's array holds, with how many:
// those it copied from, and its own, all of them.
func (b *backing) lineage(f func(from *backing, n int)) {
	for _, c := range b.copiedFrom {
		f(c.from, c.n)
	}
	f(b, math.MaxInt)
}
