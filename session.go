// Package session holds the conversation of an LLM chat: its messages, its token usage,
// a context map and a name, as an immutable value with a JSON file format shared with the
// Elixir library ExLLM (ExLLM.Session, v0.5.0).
//
// Every operation returns a new Session and leaves its receiver unchanged, in the way
// time.Time.Add does:
//
//	s := session.New("anthropic")
//	s = s.AddMessage("user", "Hello!")
//	s = s.AddMessage("assistant", "Hi there!")
//	s = s.UpdateTokenUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 15})
package session

import (
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Session is one conversation with an LLM: an ID, the backend it talks to, its messages,
// its token usage, a context map of caller metadata and an optional name. It ports
// ExLLM.Session.Types.Session.
//
// A Session is an immutable value. Methods that change it, such as AddMessage, return a
// new Session and leave the receiver as it was, so any Session can be kept, copied,
// branched into several conversations and shared between goroutines without locking.
// No map or slice that a caller passes in or gets back is shared with a Session: changing
// one afterwards changes no Session.
//
// The zero Session is an empty session with no ID, no backend and zero times. Its
// methods work, but it cannot be encoded (ToJSON reports an error): create sessions
// with New.
type Session struct {
	id        string
	backend   optionalString
	name      optionalString
	createdAt time.Time
	updatedAt time.Time
	context   map[string]any // never modified once a Session holds it
	usage     TokenUsage
	messages  messageLog

	// nulls records, by message index, which of content and timestamp a loaded file held
	// as JSON null (or, for timestamp, as the zero time), so that saving the session
	// again writes what it read. Usually nil; never modified once a Session holds it.
	nulls map[int]nullFields

	// Fields a loaded file holds that this package has no field for, kept so that
	// saving the session again loses nothing. Never modified once a Session holds them.
	unknown      map[string]any // top-level keys
	unknownUsage map[string]any // keys of token_usage besides input_tokens and output_tokens
}

// optionalString is a string that may be absent, as ExLLM's nil: it is written as
// JSON null when absent. Absent and "" differ only for values read from a file.
type optionalString struct {
	value string
	ok    bool
}

func someString(s string) optionalString {
	return optionalString{value: s, ok: s != ""}
}

// An Option configures a Session made by New.
type Option func(*Session)

// WithName gives a new session a human-readable name, as ExLLM's name: option.
// The empty name means none.
func WithName(name string) Option {
	return func(s *Session) { s.name = someString(name) }
}

// New returns an empty session for the named LLM backend ("" for none), with a new
// unique ID (a version 7 UUID, so IDs sort by creation time), no messages, an empty
// context, zero token usage, and CreatedAt and UpdatedAt set to now. It ports
// ExLLM.Session.new.
func New(backend string, opts ...Option) Session {
	now := now()
	s := Session{
		id:        uuid.Must(uuid.NewV7()).String(),
		backend:   someString(backend),
		createdAt: now,
		updatedAt: now,
	}
	for _, opt := range opts {
		opt(&s)
	}
	return s
}

// now returns the current time in UTC with no monotonic clock reading, so that it
// compares equal to itself after a JSON round trip.
func now() time.Time {
	return time.Now().UTC()
}

// touched returns s with UpdatedAt set to now.
func (s Session) touched() Session {
	s.updatedAt = now()
	return s
}

// ID returns the session's unique identifier.
func (s Session) ID() string { return s.id }

// Backend returns the name of the LLM backend, such as "openai", or "" if none was given.
func (s Session) Backend() string { return s.backend.value }

// Name returns the session's human-readable name, or "" if it has none.
func (s Session) Name() string { return s.name.value }

// CreatedAt returns the time the session was created, in UTC.
func (s Session) CreatedAt() time.Time { return s.createdAt }

// UpdatedAt returns the time of the session's last change, in UTC.
func (s Session) UpdatedAt() time.Time { return s.updatedAt }

// Context returns a copy of the session's context map: changing it changes no Session.
// The map is never nil. Numbers in a context read from JSON are json.Number values.
func (s Session) Context() map[string]any {
	if len(s.context) == 0 {
		return map[string]any{}
	}
	return cloneMap(s.context)
}

// TokenUsage returns the tokens used so far, as added up by UpdateTokenUsage.
func (s Session) TokenUsage() TokenUsage { return s.usage }

// Len returns the number of messages in the session.
func (s Session) Len() int { return s.messages.len() }

// SetContext returns s with its whole context replaced by a copy of ctx, as
// ExLLM.Session.set_context. Maps and slices inside ctx are copied too, so changing ctx
// afterwards changes no Session. A nil ctx empties the context.
func (s Session) SetContext(ctx map[string]any) Session {
	s.context = nil
	if len(ctx) > 0 {
		s.context = cloneMap(ctx)
	}
	return s.touched()
}

// SetName returns s with its name set to name ("" for none), as ExLLM.Session.set_name.
func (s Session) SetName(name string) Session {
	s.name = someString(name)
	return s.touched()
}

// ClearMessages returns s with no messages, as ExLLM.Session.clear_messages. Its ID,
// backend, name, context and token usage are kept.
func (s Session) ClearMessages() Session {
	s.messages = messageLog{}
	s.nulls = nil
	return s.touched()
}

// Equal reports whether s and t hold the same session: the same ID, backend, name,
// times (compared with time.Time.Equal), context, token usage and messages. It is the
// equality that a JSON round trip keeps: FromJSON(s.ToJSON()) is Equal to s when the
// context and Extra values are of the types FromJSON makes (string, json.Number, bool,
// nil, map[string]any and []any).
func (s Session) Equal(t Session) bool {
	return s.id == t.id && s.backend == t.backend && s.name == t.name &&
		s.createdAt.Equal(t.createdAt) && s.updatedAt.Equal(t.updatedAt) &&
		s.usage == t.usage &&
		maps.Equal(s.nulls, t.nulls) &&
		reflect.DeepEqual(s.context, t.context) &&
		reflect.DeepEqual(s.unknown, t.unknown) &&
		reflect.DeepEqual(s.unknownUsage, t.unknownUsage) &&
		slices.EqualFunc(s.messages.view(), t.messages.view(), Message.Equal)
}
