package session

import "sync/atomic"

// messageLog is the message storage of a Session: a view of the first len(msgs) slots of
// a backing array that many sessions may share.
//
// The invariant that makes sharing safe: a slot of a backing array is written once, by
// the one append that claimed it, and never again; claimed counts the slots claimed so
// far, and never decreases. A session may append in place only at slot len(msgs) and
// only by moving claimed from len(msgs) to len(msgs)+1 atomically. Every other session
// sharing the array sees at most its own len(msgs) slots, all claimed and written before
// that session existed, so no write is ever seen by a session that did not make it. When
// the claim fails (another session already appended there: a branch, or a longer session
// that this one was truncated from) or the array is full, the append copies the view into
// a new array with its own counter.
type messageLog struct {
	msgs    []Message
	claimed *atomic.Int64 // slots of msgs' backing array claimed; nil when msgs is nil
}

func (l messageLog) len() int { return len(l.msgs) }

// view returns the messages of the log. The caller must not modify or append to it.
func (l messageLog) view() []Message { return l.msgs }

func (l messageLog) append(m Message) messageLog {
	n := len(l.msgs)
	if n < cap(l.msgs) && l.claimed.CompareAndSwap(int64(n), int64(n+1)) {
		msgs := l.msgs[:n+1]
		msgs[n] = m
		return messageLog{msgs: msgs, claimed: l.claimed}
	}
	// Clip so that append must copy into a new array and grows it geometrically.
	msgs := append(l.msgs[:n:n], m)
	claimed := new(atomic.Int64)
	claimed.Store(int64(n + 1))
	return messageLog{msgs: msgs, claimed: claimed}
}

// truncate returns the log of the first n messages of l, 0 <= n <= l.len(), sharing
// its array: claimed is at least l.len() > n, so no append to the result can claim a slot
// that l sees.
func (l messageLog) truncate(n int) messageLog {
	if n == 0 {
		return messageLog{}
	}
	return messageLog{msgs: l.msgs[:n], claimed: l.claimed}
}

// newMessageLog returns a log holding msgs, which the caller gives up.
func newMessageLog(msgs []Message) messageLog {
	if len(msgs) == 0 {
		return messageLog{}
	}
	claimed := new(atomic.Int64)
	claimed.Store(int64(len(msgs)))
	return messageLog{msgs: msgs, claimed: claimed}
}
