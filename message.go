package session

import (
	"iter"
	"reflect"
	"sync/atomic"
	"time"
)

// Message is one message of a conversation, as ExLLM.Session.Types.message.
//
// The Messages a Session hands out are copies: changing one, or its Extra map, changes
// no Session.
type Message struct {
	// Role is who speaks: "system", "user", "assistant", "tool", ...
	Role string
	// Content is the text of the message.
	Content string
	// Timestamp is when the message was added, in UTC; the zero Time means none was
	// recorded, and the message's JSON then has no "timestamp".
	Timestamp time.Time
	// Extra holds every other field of the message, by its JSON key: "tool_calls",
	// "tool_call_id", "name", "metadata", ... It is nil when there are none. Numbers in
	// a message read from JSON are json.Number values.
	Extra map[string]any
}

// nullFields is a set of message fields that a file held as JSON null, or, for
// zeroTimestamp, as the zero time, which a Message cannot tell from no timestamp.
type nullFields uint8

const (
	nullContent nullFields = 1 << iota
	nullTimestamp
	zeroTimestamp
)

// reservedKeys are the message fields with a Message field of their own, which Extra
// never holds.
var reservedKeys = [...]string{"role", "content", "timestamp"}

func isReservedKey(key string) bool {
	for _, r := range reservedKeys {
		if key == r {
			return true
		}
	}
	return false
}

// clone returns a copy of m that shares no map or slice with it.
func (m Message) clone() Message {
	m.Extra = cloneMap(m.Extra)
	return m
}

// A MessageOption sets an optional field of a message added by AddMessage.
type MessageOption func(*Message)

// WithTimestamp sets the time of a message instead of now, as ExLLM's timestamp: option.
// It is stored in UTC; the zero Time records no timestamp.
func WithTimestamp(t time.Time) MessageOption {
	return func(m *Message) { m.Timestamp = t.UTC() }
}

// WithExtra adds a field to a message beside its role, content and timestamp, as the
// other options of ExLLM's add_message do: WithExtra("tool_call_id", "call_9"),
// WithExtra("tool_calls", calls), WithExtra("metadata", meta). The value is deep-copied,
// so changing it afterwards changes no Session; it must encode to JSON for the session
// to be saved.
//
// The keys "role", "content" and "timestamp" are reserved for the message's own fields,
// which are set by AddMessage's arguments and WithTimestamp only: WithExtra ignores them.
// A later WithExtra with the same key replaces an earlier one.
func WithExtra(key string, value any) MessageOption {
	return func(m *Message) {
		if isReservedKey(key) {
			return
		}
		if m.Extra == nil {
			m.Extra = make(map[string]any, 1)
		}
		m.Extra[key] = cloneValue(value)
	}
}

// AddMessage returns s with a message appended, as ExLLM.Session.add_message. The
// message's timestamp is now unless WithTimestamp gives one; WithExtra adds other fields
// such as tool calls.
//
// AddMessage takes amortized constant time: s and the session it returns share storage
// until one of them would overwrite what the other sees, and then the one appending
// copies. Adding a message to an older session therefore starts a branch that never sees
// the messages of sessions grown from it, nor they its.
func (s Session) AddMessage(role, content string, opts ...MessageOption) Session {
	t := now()
	m := Message{Role: role, Content: content, Timestamp: t}
	if len(opts) > 0 {
		m = withOptions(m, opts)
	}
	s.messages = s.messages.append(m)
	s.updatedAt = t
	return s
}

// withOptions returns m with opts applied. It is apart from AddMessage because taking
// m's address for the options moves m to the heap, which AddMessage avoids when it has
// no options.
func withOptions(m Message, opts []MessageOption) Message {
	for _, opt := range opts {
		opt(&m)
	}
	return m
}

// GetMessages returns the last limit messages of s, oldest first, or all of them when
// limit <= 0, as ExLLM.Session.get_messages. It takes time in proportion to the number
// of messages returned, not to the length of the session.
//
// ExLLM's documentation says "most recent first if limited", but its code and its tests
// return the last messages oldest first, as this does.
func (s Session) GetMessages(limit int) []Message {
	msgs := s.messages.view()
	if limit > 0 && limit < len(msgs) {
		msgs = msgs[len(msgs)-limit:]
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = m.clone()
	}
	return out
}

// Messages returns an iterator over the messages of s, oldest first, each a copy, made
// as the loop reaches it.
func (s Session) Messages() iter.Seq[Message] {
	msgs := s.messages.view()
	return func(yield func(Message) bool) {
		for _, m := range msgs {
			if !yield(m.clone()) {
				return
			}
		}
	}
}

// messageLog is the message storage of a Session: a view of the first len(msgs) slots of
// a backing array that many sessions may share.
//
// The invariant that makes sharing safe: a slot of a backing array is written once, by
// the one append that claimed it, and never again; claimed counts the slots claimed so
// far. A session may append in place only at slot len(msgs) and only by moving claimed
// from len(msgs) to len(msgs)+1 atomically. Every other session sharing the array sees at
// most its own len(msgs) slots, all claimed and written before that session existed, so
// no write is ever seen by a session that did not make it. When the claim fails (another
// session already appended there: a branch) or the array is full, the append copies the
// view into a new array with its own counter.
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

// newMessageLog returns a log holding msgs, which the caller gives up.
func newMessageLog(msgs []Message) messageLog {
	if len(msgs) == 0 {
		return messageLog{}
	}
	claimed := new(atomic.Int64)
	claimed.Store(int64(len(msgs)))
	return messageLog{msgs: msgs, claimed: claimed}
}

// Equal reports whether m and n are the same message: the same role, content and
// Extra fields, and timestamps that are the same instant.
func (m Message) Equal(n Message) bool {
	return m.Role == n.Role && m.Content == n.Content && m.Timestamp.Equal(n.Timestamp) &&
		reflect.DeepEqual(m.Extra, n.Extra)
}
