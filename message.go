package session

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// Message is one message of a conversation, as ExLLM.Session.Types.message.
//
// The Messages a Session hands out are copies: changing one, or a map or slice in it,
// changes no Session.
type Message struct {
	// Role is who speaks: "system", "user", "assistant", "tool", ...
	Role string
	// Content is the text of the message: its content when that is a string, or the
	// text of its "text" parts, joined by newlines, when it has Parts.
	Content string
	// Parts is the content when it is a list of parts, as in OpenAI's multimodal
	// messages ({"type": "text", "text": ...}, {"type": "image_url", ...}) and
	// Anthropic's content blocks ({"type": "tool_use", ...}); nil when the content is
	// a string. When Parts is not nil, it is what a file holds as the content.
	Parts []map[string]any
	// Timestamp is when the message was added, in UTC, to the microsecond; the zero
	// Time means none was recorded, and the message's JSON then has no "timestamp".
	Timestamp time.Time
	// Extra holds every other field of the message, by its JSON key: "tool_calls",
	// "tool_call_id", "name", "metadata", ... It is nil when there are none. It holds
	// JSON values only: strings, bools, nil, json.Number, map[string]any and []any.
	Extra map[string]any

	// aux holds what the fields above do not: the usage, the form of fields a file held
	// in a form of their own, and the error of an option. It is nil for most messages,
	// which keeps Message small, and never modified once a Message holds it.
	aux *auxFields
}

// auxFields are the fields of a Message that are not exported: see Message.aux.
type auxFields struct {
	usage       TokenUsage
	content     keptValue // content that is neither a string nor a list of objects
	timestamp   keptValue // a timestamp not as jsonwire.AppendTime writes it: null, another form, no time
	timestampAt time.Time // what timestamp parsed to; it is written while Timestamp is this
	err         error     // a value given to an option that has no JSON encoding
}

// keptValue is a JSON value that may be absent.
type keptValue struct {
	value any
	ok    bool
}

func (k keptValue) equal(l keptValue) bool { return k.ok == l.ok && jsonEqual(k.value, l.value) }

// with returns a copy of a, or new auxFields if a is nil, changed by change.
func (a *auxFields) with(change func(*auxFields)) *auxFields {
	var c auxFields
	if a != nil {
		c = *a
	}
	change(&c)
	return &c
}

// Usage returns the tokens of the model's call that produced m, as WithUsage recorded
// them; zero when none were.
func (m Message) Usage() TokenUsage {
	if m.aux == nil {
		return TokenUsage{}
	}
	return m.aux.usage
}

// keptContent returns the content a file held that Content and Parts cannot say,
// while they are still empty.
func (m Message) keptContent() keptValue {
	if m.aux == nil || m.Parts != nil || m.Content != "" {
		return keptValue{}
	}
	return m.aux.content
}

// keptTimestamp returns the timestamp as a file held it, while Timestamp is unchanged.
func (m Message) keptTimestamp() keptValue {
	if m.aux == nil || !m.Timestamp.Equal(m.aux.timestampAt) {
		return keptValue{}
	}
	return m.aux.timestamp
}

func (m Message) err() error {
	if m.aux == nil {
		return nil
	}
	return m.aux.err
}

// reservedKeys are the message fields with a Message field of their own, which Extra
// never holds.
var reservedKeys = [...]string{"role", "content", "timestamp", "token_usage"}

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
	m.Parts = cloneParts(m.Parts)
	return m
}

// mutable reports whether m holds a map or slice that a copy of m would share.
func (m Message) mutable() bool { return m.Extra != nil || m.Parts != nil }

// partsText returns the text of the "text" parts, joined by newlines.
func partsText(parts []map[string]any) string {
	var texts []string
	for _, p := range parts {
		if text, ok := p["text"].(string); ok && p["type"] == "text" {
			texts = append(texts, text)
		}
	}
	return strings.Join(texts, "\n")
}

// A MessageOption sets an optional field of a message added by AddMessage. Only this
// package makes them, so that what they set keeps the message's invariants: a UTC
// timestamp, JSON values that no caller shares. A nil one panics (see [NewOption] for how
// options are named).
type MessageOption interface{ applyMessage(*Message) }

type messageOption func(*Message)

func (f messageOption) applyMessage(m *Message) { f(m) }

// WithTimestamp sets the time of a message instead of now, as ExLLM's timestamp: option.
// It is stored in UTC, to the microsecond as ExLLM keeps it; the zero Time records no
// timestamp.
func WithTimestamp(t time.Time) MessageOption {
	return messageOption(func(m *Message) { m.Timestamp = recorded(t) })
}

// WithExtra adds a field to a message beside its role, content and timestamp, as the
// other options of ExLLM's add_message do: WithExtra("tool_call_id", "call_9"),
// WithExtra("tool_calls", calls), WithExtra("metadata", meta).
//
// The value is stored as the JSON value it encodes to, as encoding/json would decode it
// into an any but with numbers as json.Number: a []ToolCall of your own struct type
// becomes a []any of map[string]any by its json tags, exactly what loading the session
// from a file gives. So nothing you do with value afterwards changes the session. A
// value with no JSON encoding (a channel, a function, NaN, a map that contains itself)
// is not stored: the session then fails to encode, with an error naming the field.
//
// The keys "role", "content", "timestamp" and "token_usage" are reserved for the
// message's own fields, set by AddMessage's arguments, WithParts, WithTimestamp and
// WithUsage: WithExtra ignores them. A later WithExtra with the same key replaces an
// earlier one.
func WithExtra(key string, value any) MessageOption {
	key = validUTF8(key) // as it is written and read back
	return messageOption(func(m *Message) {
		if isReservedKey(key) {
			return
		}
		v, err := jsonValue(value, 3)
		if err != nil {
			m.setErr(prefixPath(key, err))
			return
		}
		if m.Extra == nil {
			m.Extra = make(map[string]any, 1)
		}
		m.Extra[key] = v
	})
}

// WithParts makes the content of a message a list of parts instead of a string, as
// OpenAI's multimodal content and Anthropic's content blocks:
//
//	s.AddMessage("user", "", session.WithParts(
//		map[string]any{"type": "text", "text": "What is this?"},
//		map[string]any{"type": "image_url", "image_url": map[string]any{"url": url}}))
//
// The message's Content is then the text of its "text" parts, and AddMessage's content
// argument is not used. The parts are stored as JSON values, as WithExtra stores its
// value.
func WithParts(parts ...map[string]any) MessageOption {
	return messageOption(func(m *Message) {
		out := make([]map[string]any, len(parts))
		for i, p := range parts {
			if p == nil {
				m.setErr(&fieldError{fmt.Sprintf("content[%d]", i), errors.New("a part must not be nil")})
				return
			}
			v, err := jsonValue(p, 4)
			if err != nil {
				m.setErr(prefixPath(fmt.Sprintf("content[%d]", i), err))
				return
			}
			out[i] = v.(map[string]any)
		}
		m.Parts = out
		m.Content = partsText(out)
	})
}

// WithUsage records on a message the tokens of the model's call that produced it, and
// AddMessage adds them to the session's totals, as UpdateTokenUsage does: per-turn usage
// that stays with its message (read it with Message.Usage) and in the file. Negative
// counts count as zero.
func WithUsage(u TokenUsage) MessageOption {
	return messageOption(func(m *Message) {
		m.aux = m.aux.with(func(a *auxFields) { a.usage = TokenUsage{}.add(u) })
	})
}

// setErr records the first error of an option.
func (m *Message) setErr(err error) {
	if m.err() == nil {
		m.aux = m.aux.with(func(a *auxFields) { a.err = err })
	}
}

// AddMessage returns s with a message appended, as ExLLM.Session.add_message. The
// message's timestamp is now unless WithTimestamp gives one; WithExtra adds other fields
// such as tool calls, WithParts makes its content a list of parts, and WithUsage records
// its token usage and adds it to the session's.
//
// AddMessage takes amortized constant time: s and the session it returns share storage
// until one of them would overwrite what the other sees, and then the one appending
// copies. Adding a message to an older session therefore starts a branch that never sees
// the messages of sessions grown from it, nor they its.
func (s Session) AddMessage(role, content string, opts ...MessageOption) Session {
	t := s.nextTime()
	m := Message{Role: role, Content: content, Timestamp: t}
	if len(opts) > 0 {
		m = withOptions(m, opts)
		if m.aux != nil {
			s.usage = s.usage.add(m.aux.usage)
		}
	}
	s.messages = s.messages.append(m)
	s.updated = keptTime{at: t}
	return s
}

// withOptions returns m with opts applied. It is apart from AddMessage because taking
// m's address for the options moves m to the heap, which AddMessage avoids when it has
// no options.
func withOptions(m Message, opts []MessageOption) Message {
	for _, opt := range opts {
		if opt == nil {
			panic("session: a nil MessageOption")
		}
		opt.applyMessage(&m)
	}
	return m
}

// GetMessages returns the last limit messages of s, oldest first, or all of them when
// limit <= 0, as ExLLM.Session.get_messages. It takes time in proportion to the number
// of messages returned, not to the length of the session.
//
// ExLLM's documentation says "most recent first if limited", but its code and its tests
// return the last messages oldest first, as this does.
//
// A partial session (see [Session.FirstIndex]) gives the last limit messages of those it holds.
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

// MessageAt returns a copy of message i of s, oldest first, in constant time. It panics
// if i is out of range, as indexing a slice does, or, in a partial session (see
// FirstIndex), if s does not hold message i (it holds the leading system messages).
func (s Session) MessageAt(i int) Message {
	first := s.messages.first()
	if system := s.messages.system(); i >= 0 && i < len(system) {
		return system[i].clone()
	}
	if i < first && i >= 0 {
		panic(fmt.Sprintf("session: MessageAt(%d) of a partial session that holds messages [%d, %d)", i, first, s.messages.len()))
	}
	return s.messages.view()[i-first].clone()
}

// LastMessage returns a copy of the last message of s, and false if s has none.
func (s Session) LastMessage() (Message, bool) {
	msgs := s.messages.view()
	if len(msgs) == 0 {
		return Message{}, false
	}
	return msgs[len(msgs)-1].clone(), true
}

// Backward returns an iterator over the messages of s from the newest, with their
// indexes, each a copy made as the loop reaches it: searching back from the end costs
// what the loop reads, not the length of the session. A partial session (see [Session.FirstIndex])
// gives the messages it holds, with their indexes in the conversation.
func (s Session) Backward() iter.Seq2[int, Message] {
	msgs, first := s.messages.view(), s.messages.first()
	return func(yield func(int, Message) bool) {
		for i := len(msgs) - 1; i >= 0; i-- {
			if !yield(first+i, msgs[i].clone()) {
				return
			}
		}
	}
}

// AppendMessages returns s with copies of msgs appended, as they are: to copy or fork a
// conversation, or to add messages made elsewhere. Each keeps its timestamp (the zero
// Time records none; others are stored in UTC, to the microsecond) and its usage, which
// is added to the session's totals as AddMessage adds WithUsage's; its Extra fields and
// Parts are stored as JSON values, as WithExtra and WithParts store them, without the
// keys Extra may not hold ("role", "content", "timestamp", "token_usage"); with Parts,
// its Content is the text of its parts. A value with no JSON encoding makes the session
// fail to encode, naming it, as with WithExtra.
func (s Session) AppendMessages(msgs ...Message) Session {
	if len(msgs) == 0 {
		return s
	}
	for _, m := range msgs {
		m = normalized(m)
		s.usage = s.usage.add(m.Usage())
		s.messages = s.messages.append(m)
	}
	return s.touched()
}

// normalized returns m as the package stores a message: see AppendMessages.
func normalized(m Message) Message {
	if !m.Timestamp.IsZero() {
		m.Timestamp = recorded(m.Timestamp)
	}
	if m.Extra != nil {
		extra := make(map[string]any, len(m.Extra))
		for k, v := range m.Extra {
			if !isReservedKey(validUTF8(k)) {
				extra[k] = v
			}
		}
		m.Extra = nil
		if len(extra) > 0 {
			v, err := jsonValue(extra, 2)
			if err != nil {
				m.setErr(err)
			} else {
				m.Extra = v.(map[string]any)
			}
		}
	}
	if m.Parts != nil {
		parts := m.Parts
		m.Parts = nil
		WithParts(parts...).applyMessage(&m)
	}
	return m
}

// Messages returns an iterator over the messages of s, oldest first, each a copy, made
// as the loop reaches it; over those it holds, for a partial session (see [Session.FirstIndex]).
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

// Equal reports whether m and n are the same message: the same role, content, parts,
// usage and Extra fields, timestamps that are the same instant, and the same form of
// the fields a file held in a form of its own (a null content, a timestamp with an
// offset), so that Equal messages are written alike.
func (m Message) Equal(n Message) bool {
	return stringsEqual(m.Role, n.Role) && stringsEqual(m.Content, n.Content) &&
		m.Timestamp.Equal(n.Timestamp) && m.Usage() == n.Usage() &&
		(m.Parts == nil) == (n.Parts == nil) &&
		slices.EqualFunc(m.Parts, n.Parts, mapsEqual) &&
		mapsEqual(m.Extra, n.Extra) &&
		m.keptContent().equal(n.keptContent()) &&
		m.keptTimestamp().equal(n.keptTimestamp())
}
