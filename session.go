// Package session holds the conversation of an LLM chat: its messages, its token usage,
// a context map and a name, as an immutable value with a JSON file format shared with the
// Elixir library ExLLM (ExLLM.Session, v0.5.0).
//
// Every operation returns a new [Session] and leaves its receiver unchanged, as
// [time.Time.Add] does:
//
//	s := session.New("anthropic")
//	s = s.AddMessage("user", "Hello!")
//	s = s.AddMessage("assistant", "Hi there!")
//	s = s.UpdateTokenUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 15})
//
// # Messages and usage
//
// [Session.AddMessage] takes a role, a text and [MessageOption]s: [WithExtra] for tool
// calls and other fields, [WithParts] for content parts, [WithUsage] for an answer's
// [TokenUsage], [WithTimestamp]. [Session.GetMessages], [Session.MessageAt],
// [Session.Messages] and [Session.Backward] read them back as copies.
//
// # What to send a model
//
// [Session.Window] chooses the most recent messages that fit a budget, tool calls with
// their results; with [KeepSystem] the instructions first, with [StablePrefix] a
// beginning that stays put from turn to turn for the provider's prompt cache.
// [Session.Summarize] keeps a summary in place of the messages it covers; the session
// keeps them too.
//
// # Files and stores
//
// [Session.ToJSON], [FromJSON], [Session.SaveToFile] and [LoadFromFile] read and write
// ExLLM's files; [Session.Digest] identifies every byte of them. A partial session
// ([Session.Recent], [Session.FirstIndex]) holds only the end of a long conversation, for
// a server that reads no more than a turn needs. Stores build on package
// github.com/exllm-go/session/storage, and github.com/exllm-go/session/sqlstore is one.
package session

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Session is one conversation with an LLM: an ID, the backend it talks to, its messages,
// its token usage, a context map of caller metadata and an optional name. It ports
// ExLLM.Session.Types.Session.
//
// A Session is an immutable value, like [time.Time]. Methods that change it, such as
// [Session.AddMessage], return a new Session and leave the receiver as it was, so any Session can
// be kept, copied, branched into several conversations and shared between goroutines
// without locking. No map or slice that a caller passes in or gets back is shared with a
// Session, and no callback is handed one: changing one afterwards changes no Session.
// A Session holds JSON values only (see [WithExtra]), so it reads the same before it is
// saved and after it is loaded.
//
// The zero Session is an empty session with no ID, no backend and zero times. Its
// methods work, but it cannot be encoded ([Session.ToJSON] reports an error): create
// sessions with [New]. As JSON, it is null.
//
// Embedding a Session in a struct of your own promotes its MarshalJSON, which then
// encodes the session alone and drops the struct's other fields, as embedding a
// time.Time does: hold a Session in a named field instead.
type Session struct {
	id               string
	backend          optionalString
	name             optionalString
	created, updated keptTime
	context          map[string]any // nil when empty
	otherContext     keptValue      // a context a file held that is not an object
	contextErr       error          // the error of a context value with no JSON encoding
	usage            TokenUsage
	usageKeys        usageKeySet // the keys of token_usage a file held, written even when 0
	keptUsage        *keptUsage  // token_usage as a file held it, where the package writes it otherwise
	messages         messageLog
	summary          *summary // nil for none; never modified once a Session holds it

	// Fields a loaded file holds that this package has no field for, kept so that
	// saving the session again loses nothing. Never modified once a Session holds them.
	unknown      map[string]any // top-level keys
	unknownUsage map[string]any // keys of token_usage this package does not know
}

// optionalString is a string that may be absent, as ExLLM's nil: it is written as
// JSON null when absent. Absent and "" differ only for values read from a file.
type optionalString struct {
	value string
	ok    bool
}

func (o optionalString) equal(p optionalString) bool {
	return o.ok == p.ok && stringsEqual(o.value, p.value)
}

func someString(s string) optionalString {
	return optionalString{value: s, ok: s != ""}
}

// A NewOption configures a Session made by [New]. Only this package makes them, so that
// none can reach inside a Session and break what it guarantees.
//
// The options of a function F are of type FOption: [NewOption], [MessageOption],
// [WindowOption], [LoadOption] (and sqlstore's UpdateOption). An option that sets a value
// is named With and the value ([WithName], [WithUsage]); one that turns on a behaviour
// says it ([KeepSystem], [StablePrefix]). A nil option panics, as a nil func would.
type NewOption interface{ applySession(*Session) }

type sessionOption func(*Session)

func (f sessionOption) applySession(s *Session) { f(s) }

// WithName gives a new session a human-readable name, as ExLLM's name: option.
// The empty name means none.
func WithName(name string) NewOption {
	return sessionOption(func(s *Session) { s.name = someString(name) })
}

// New returns an empty session for the named LLM backend ("" for none), with a new
// unique ID (a version 7 UUID, so IDs sort by creation time), no messages, an empty
// context, zero token usage, and CreatedAt and UpdatedAt set to now. It ports
// ExLLM.Session.new.
func New(backend string, opts ...NewOption) Session {
	now := now()
	s := Session{
		id:      uuid.Must(uuid.NewV7()).String(),
		backend: someString(backend),
		created: keptTime{at: now},
		updated: keptTime{at: now},
	}
	for _, opt := range opts {
		if opt == nil {
			panic("session: a nil NewOption")
		}
		opt.applySession(&s)
	}
	return s
}

// nextTime returns the time a change to s is made: now, or, if the clock has not moved
// past s's UpdatedAt (it went back, or two changes came within a microsecond), one
// microsecond after it, so that every change gives a later UpdatedAt than its session had.
func (s Session) nextTime() time.Time {
	t := now()
	if !t.After(s.updated.at) {
		t = s.updated.at.Truncate(time.Microsecond).Add(time.Microsecond)
	}
	return t
}

// touched returns s with UpdatedAt set to the time of a change.
func (s Session) touched() Session {
	s.updated = keptTime{at: s.nextTime()}
	return s
}

// IsZero reports whether s is the zero Session, which New and FromJSON never return: a
// store takes it for "no session yet".
func (s Session) IsZero() bool { return s.id == "" }

// Err returns the error that ToJSON would report for s, naming the field: a value given
// to SetContext, WithExtra, WithParts or AppendMessages that has no JSON encoding, or
// the zero Session. It returns nil when s can be encoded, or, for a partial session
// (see [Session.FirstIndex]), which ToJSON does not encode whole, when its header and every message
// it holds can be. It takes time in proportion
// to the messages, so that a caller can learn of a bad value where it adds it, rather
// than at a save far from the cause.
func (s Session) Err() error {
	if s.id == "" {
		return fmt.Errorf("session: %w", &fieldError{"id", errZeroSession})
	}
	if s.contextErr != nil {
		return fmt.Errorf("session: %w", s.contextErr)
	}
	for i, m := range s.messages.view() {
		if err := m.err(); err != nil {
			return fmt.Errorf("session: %w", prefixPath(fmt.Sprintf("messages[%d]", s.messages.first()+i), err))
		}
	}
	return nil
}

// ID returns the session's unique identifier.
func (s Session) ID() string { return s.id }

// Backend returns the name of the LLM backend, such as "openai", or "" if none was given.
func (s Session) Backend() string { return s.backend.value }

// Name returns the session's human-readable name, or "" if it has none.
func (s Session) Name() string { return s.name.value }

// CreatedAt returns the time the session was created, in UTC.
func (s Session) CreatedAt() time.Time { return s.created.at }

// UpdatedAt returns the time of the session's last change, in UTC. Every change gives a
// later UpdatedAt than the session it was made from had.
func (s Session) UpdatedAt() time.Time { return s.updated.at }

// Context returns a copy of the session's context map: changing it changes no Session.
// The map is never nil; it is empty when the context a file held is not a JSON object
// (ExLLM keeps any JSON value there), which saving the session writes back as it was.
// Numbers in it are json.Number values.
func (s Session) Context() map[string]any {
	if len(s.context) == 0 {
		return map[string]any{}
	}
	return cloneMap(s.context)
}

// TokenUsage returns the tokens used so far, as added up by UpdateTokenUsage and
// WithUsage.
func (s Session) TokenUsage() TokenUsage { return s.usage }

// Len returns the number of messages in the session; for a partial session (see
// FirstIndex), in its whole conversation, those it does not hold included.
func (s Session) Len() int { return s.messages.len() }

// SetContext returns s with its whole context replaced by values, as
// ExLLM.Session.set_context. values is stored as JSON values, as WithExtra stores its
// value, so changing values afterwards changes no Session; a value with no JSON encoding
// makes the session fail to encode, naming it (Err reports it at once). A nil or empty
// values empties the context.
func (s Session) SetContext(values map[string]any) Session {
	s.context, s.otherContext, s.contextErr = nil, keptValue{}, nil
	if len(values) > 0 {
		v, err := jsonValue(values, 1)
		if err != nil {
			s.contextErr = prefixPath("context", err)
		} else {
			s.context = v.(map[string]any)
		}
	}
	return s.touched()
}

// SetName returns s with its name set to name ("" for none), as ExLLM.Session.set_name.
func (s Session) SetName(name string) Session {
	s.name = someString(name)
	return s.touched()
}

// ClearMessages returns s with no messages, as ExLLM.Session.clear_messages. Its ID,
// backend, name, context and token usage are kept; its summary (see [Session.Summarize]) goes.
func (s Session) ClearMessages() Session {
	s.messages = messageLog{}
	s.summary = nil
	return s.touched()
}

// Truncate returns s with only its first n messages, to regenerate an answer or undo a
// turn; s itself when it has n messages or fewer. It takes constant time and shares
// storage with s as AddMessage does: adding messages to either never changes the other.
// The token usage is kept.
//
// A partial session (see [Session.FirstIndex]) does not hold the messages before its
// first: Truncate to 0 < n < FirstIndex() panics, as indexing a slice out of its range
// does. Truncate(0) gives a whole session, as [Session.ClearMessages].
//
// Truncate does not look at tool calls: cutting between an assistant message with
// tool_calls and its results leaves a call without results, which Window never sends.
func (s Session) Truncate(n int) Session {
	if n >= s.messages.len() {
		return s
	}
	if first := s.messages.first(); n > 0 && n < first {
		panic(fmt.Sprintf("session: Truncate(%d) of a partial session that holds messages [%d, %d): load it whole to cut before them", n, first, s.messages.len()))
	}
	s.messages = s.messages.truncate(max(n, 0))
	if s.summary != nil && s.summary.through > s.messages.len() {
		s.summary = nil // it summarizes messages that are gone
	}
	return s.touched()
}

// Equal reports whether s and t hold the same session: the same ID, backend, name,
// times (compared with time.Time.Equal, and in the form a file held them), context,
// token usage and messages (compared with Message.Equal). It is the equality that a
// JSON round trip keeps: FromJSON(s.ToJSON()) is Equal to s.
func (s Session) Equal(t Session) bool {
	return s.id == t.id && s.backend.equal(t.backend) && s.name.equal(t.name) &&
		s.created.equal(t.created) && s.updated.equal(t.updated) &&
		s.usage == t.usage && s.usageKeys.written(s.usage) == t.usageKeys.written(t.usage) &&
		s.usageKept().equal(t.usageKept()) &&
		mapsEqual(s.context, t.context) && s.otherContext.equal(t.otherContext) &&
		mapsEqual(s.unknown, t.unknown) && mapsEqual(s.unknownUsage, t.unknownUsage) &&
		s.summary.equal(t.summary) && s.messages.equal(t.messages)
}

// CommonPrefixLen returns how many leading messages s and t have in common, compared with
// Message.Equal. Where one session was made from the other by AddMessage, Truncate and
// the other operations, it knows the messages they share without comparing them, so it
// takes about constant time; a store uses it to write only what a turn added.
//
// Messages that a partial session (see [Session.FirstIndex]) does not hold are compared by their
// chain digest (see storage.PrefixAt), computed for the messages the other session holds
// there; where that cannot show them alike, the result is 0, a lower bound.
func (s Session) CommonPrefixLen(t Session) int {
	return s.messages.commonPrefix(t.messages)
}
