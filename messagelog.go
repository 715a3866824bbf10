package session

import (
	"sort"
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
//
// The backing also records the origin of the message in each slot: the serial of the
// backing array it was first written to. Copies keep every message at its index, so two
// messages at the same index with the same origin are copies of one slot, and the
// messages before them are copies of the same slots too: a log's origins at index k
// identify its whole prefix up to k. CommonPrefixLen relies on that.
//
// A log may hold only the last messages of a conversation (see [Session.FirstIndex]): its
// backing's prefix tells how many messages come before its first slot, and their chain
// digest (see [Session.Digest]), which stands for them where the log is compared or
// digested. Every backing copied from it has the same prefix, so that slot i is message
// prefix.n+i in every log that shares a lineage.
type messageLog struct {
	msgs []Message
	b    *backing // nil when the log is empty and whole
}

// backing is what the sessions sharing one backing array share besides it.
type backing struct {
	claimed atomic.Int64
	serial  uint64 // unique among backings: the origin of the messages first written here
	// runs give the origins of the slots, in runs: runs[k].serial is the origin of the
	// slots from runs[k].start to the next run's start. The last run is the backing's
	// own, from its first slot written here on, so that writing a slot changes nothing
	// here. Never modified.
	runs    []originRun
	own     [1]originRun                       // runs, for a backing that copied no slots
	digests atomic.Pointer[prefixList[digest]] // nil until a digest of the array's messages is asked for
	tokens  atomic.Pointer[prefixList[int]]    // nil until the estimated tokens of the messages are asked for
	prefix  prefix                             // the messages before slot 0, not held
}

// prefix stands for the first n messages of a conversation, which a log does not hold:
// their chain digest and estimated tokens, or, when unknown is set, nothing (a partial
// session truncated before its first message), which makes the log impossible to digest
// or encode.
type prefix struct {
	n       int
	chain   digest
	tokens  int
	unknown bool
	system  []Message // the conversation's leading system messages among the n; never modified
}

type originRun struct {
	start  int
	serial uint64
}

// backings counts the backings made, to give each a serial.
var backings atomic.Uint64

// newBacking returns the backing of an array whose first claimed slots are claimed, of
// which the first copied are copies of from's slots.
func newBacking(claimed, copied int, from *backing) *backing {
	b := &backing{serial: backings.Add(1)}
	if from != nil {
		b.prefix = from.prefix
	}
	b.claimed.Store(int64(claimed))
	own := originRun{start: copied, serial: b.serial}
	if copied == 0 {
		b.own[0] = own
		b.runs = b.own[:]
		return b
	}
	n := sort.Search(len(from.runs), func(k int) bool { return from.runs[k].start >= copied })
	b.runs = append(append(make([]originRun, 0, n+1), from.runs[:n]...), own)
	return b
}

// origin returns the origin of slot i.
func (b *backing) origin(i int) uint64 {
	k := sort.Search(len(b.runs), func(k int) bool { return b.runs[k].start > i })
	return b.runs[k-1].serial
}

// len returns the length of the conversation, the messages before the log's first
// included.
func (l messageLog) len() int { return l.first() + len(l.msgs) }

// first returns the index of the log's first message, the number of messages before it
// that it does not hold.
func (l messageLog) first() int {
	if l.b == nil {
		return 0
	}
	return l.b.prefix.n
}

// leading returns the leading system messages of the conversation that l knows: those
// before the messages it holds, and, where they fill what comes before, those it holds.
func (l messageLog) leading() []Message {
	before, first := l.system(), l.first()
	if len(before) < first {
		return before
	}
	k := 0
	for k < len(l.msgs) && l.msgs[k].Role == "system" {
		k++
	}
	if len(before) == 0 {
		return l.msgs[:k:k]
	}
	return append(before[:len(before):len(before)], l.msgs[:k]...)
}

// system returns the leading system messages of the conversation that come before the
// messages the log holds, for a partial log that was given them.
func (l messageLog) system() []Message {
	if l.b == nil {
		return nil
	}
	return l.b.prefix.system
}

// view returns the messages the log holds. The caller must not modify or append to it.
func (l messageLog) view() []Message { return l.msgs }

// append returns l with m appended.
func (l messageLog) append(m Message) messageLog {
	n := len(l.msgs)
	if n < cap(l.msgs) && l.b.claimed.CompareAndSwap(int64(n), int64(n+1)) {
		msgs := l.msgs[:n+1]
		msgs[n] = m
		return messageLog{msgs: msgs, b: l.b}
	}
	// Clip so that append must copy into a new array and grows it geometrically.
	msgs := append(l.msgs[:n:n], m)
	b := newBacking(n+1, n, l.b)
	if l.b != nil {
		if d := l.b.digests.Load(); d != nil {
			b.digests.Store(d.upTo(n))
		}
		if t := l.b.tokens.Load(); t != nil {
			b.tokens.Store(t.upTo(n))
		}
	}
	return messageLog{msgs: msgs, b: b}
}

// truncate returns the log of the first n messages of l, 0 <= n <= l.len(), sharing
// its array: claimed is at least len(l.msgs) > n-l.first(), so no append to the result
// can claim a slot that l sees. Cut before the messages l holds, the result holds none
// and knows nothing of the n before.
func (l messageLog) truncate(n int) messageLog {
	first := l.first()
	switch {
	case n == 0:
		return messageLog{}
	case n < first:
		return partialLog(prefix{n: n, unknown: true}, nil)
	}
	return messageLog{msgs: l.msgs[:n-first], b: l.b}
}

// partialLog returns a log holding msgs, which the caller gives up, after the messages
// p stands for.
func partialLog(p prefix, msgs []Message) messageLog {
	if p.n == 0 {
		return newMessageLog(msgs)
	}
	b := newBacking(len(msgs), 0, nil)
	b.prefix = p
	return messageLog{msgs: msgs, b: b}
}

// newMessageLog returns a log holding msgs, which the caller gives up, as messages first
// written there.
func newMessageLog(msgs []Message) messageLog {
	if len(msgs) == 0 {
		return messageLog{}
	}
	return messageLog{msgs: msgs, b: newBacking(len(msgs), 0, nil)}
}

// commonPrefix returns how many leading messages l and o have in common. The messages
// that are copies of the same slots are found by their origins (see messageLog), in
// time logarithmic in their number and whatever the branches the logs came through;
// the messages after them are compared with Message.Equal. Messages that one of the
// logs does not hold are compared by their chain digest; where that does not show them
// alike, the result is 0, a lower bound.
func (l messageLog) commonPrefix(o messageLog) int {
	lf, of := l.first(), o.first()
	if lf == 0 && of == 0 {
		return l.commonHeld(o)
	}
	f := max(lf, of)
	if f > min(l.len(), o.len()) {
		return 0
	}
	lc, lok := l.chainAt(f)
	oc, ook := o.chainAt(f)
	if !lok || !ook || lc != oc {
		return 0
	}
	if lf == of {
		return f + l.commonHeld(o)
	}
	lm, om := l.msgs[f-lf:], o.msgs[f-of:]
	k := 0
	for k < min(len(lm), len(om)) && lm[k].Equal(om[k]) {
		k++
	}
	return f + k
}

// equal reports whether l and o hold the same conversation.
func (l messageLog) equal(o messageLog) bool {
	switch {
	case l.len() != o.len():
		return false
	case l.b == o.b && l.b != nil && l.b.prefix.unknown:
		return true // the same view of one backing: unknown, but the same messages
	}
	return l.commonPrefix(o) == l.len()
}

// commonHeld returns how many leading messages l and o hold in common, for logs with one
// first index.
func (l messageLog) commonHeld(o messageLog) int {
	n := min(len(l.msgs), len(o.msgs))
	same := func(i int) bool { return l.b.origin(i) == o.b.origin(i) }
	known := 0
	if n > 0 && same(n-1) {
		known = n // the common case: one log extends the other
	} else {
		// same(i) holds for i below some k and fails from k on: find k.
		lo, hi := 0, n
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if same(mid) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		known = lo
	}
	for known < n && l.msgs[known].Equal(o.msgs[known]) {
		known++
	}
	return known
}
