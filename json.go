package session

import (
	"bytes"
	"fmt"
	"sync"
)

// ToJSON returns the JSON encoding of s, as ExLLM.Session.to_json: one object with the
// keys id, llm_backend, messages, context, created_at, updated_at, token_usage and name,
// which ExLLM reads and writes. Times are RFC 3339 in UTC with six fraction digits, as
// ExLLM writes them, or as a file held them; a message is an object of its role,
// content (a string, or its Parts), timestamp (left out when zero), token_usage (left
// out when zero) and Extra fields; an absent backend or name is null. Keys are sorted,
// so the same session always gives the same bytes. Strings are escaped as encoding/json
// escapes them, except that <, > and & are written as they are.
//
// It fails for the zero Session and for a session given a value with no JSON encoding
// (see [WithExtra]), naming the field (session: messages[3].metadata: ...).
func (s Session) ToJSON() ([]byte, error) {
	data, err := s.encode()
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return data, nil
}

// encode returns the JSON of s in a buffer allocated once. Its errors have no
// "session: " prefix.
func (s Session) encode() ([]byte, error) {
	buf := encodeBuffers.Get().(*[]byte)
	data, err := s.appendJSON((*buf)[:0])
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(data) // copied, not zeroed then written
	if cap(data) <= maxPooledBuffer {
		*buf = data
		encodeBuffers.Put(buf)
	}
	return out, nil
}

// encodeBuffers are buffers that encode writes into before copying the result out.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer is the size of the largest buffer encodeBuffers keeps.
const maxPooledBuffer = 16 << 20

// AppendJSON appends the JSON encoding of s, as made by ToJSON, to b, for callers that
// reuse a buffer. On error it returns b as it was.
func (s Session) AppendJSON(b []byte) ([]byte, error) {
	out, err := s.appendJSON(b)
	if err != nil {
		return b, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

// FromJSON decodes a session from JSON written by ToJSON or by ExLLM, as
// ExLLM.Session.from_json.
//
// id (a non-empty string), created_at and updated_at are required; a missing or null
// messages, context, token_usage, llm_backend or name is empty, and a null token count
// is 0. A token count may be any number ExLLM's update_token_usage adds up: one with a
// fraction (1.5) reads as its whole part, a negative one as it is (TokenUsage.Total and
// Cost count it as zero); one outside the range of an int (1e400, which ExLLM cannot
// read either) is an error. Where a key comes twice in an object, its first value is the
// one read, as ExLLM reads a file (encoding/json keeps the last). Timestamps may have any offset or none (then UTC), a space for the T, a comma
// before the fraction, or be a date alone, as ExLLM reads and writes them; a message
// timestamp that is no time at all is kept as it is, with a zero Message.Timestamp. A
// message's content may be a string, null, a list of parts (Message.Parts) or any other
// JSON value; the context may be any JSON value. Numbers in the context, parts and Extra
// fields decode as json.Number, so that integers of any size survive; other values decode
// as encoding/json decodes into an any. Keys that this package has no field for are kept,
// as are the forms of values it has a field for (a null content, a timestamp's offset, a
// token_usage that is missing or null, a count of 1.5), and ToJSON writes them back
// while they are unchanged: a session read and written again loses nothing. Numbers in
// the context and Extra fields are written back as they were read, 1e400 too, which
// ExLLM cannot read.
//
// An error names the field that is wrong (session: messages[3].role: ...) and wraps
// the cause: a *json.SyntaxError for malformed JSON (whatever else is wrong), a
// *json.UnmarshalTypeError for a value of the wrong type, a *time.ParseError for a bad
// created_at or updated_at.
func FromJSON(data []byte) (Session, error) {
	s, err := decodeSession(data)
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// MarshalJSON implements [json.Marshaler] with the encoding of [Session.ToJSON]. The
// zero Session, which is no session, is JSON null, so that a struct that holds one
// marshals.
func (s Session) MarshalJSON() ([]byte, error) {
	if s.IsZero() {
		return []byte("null"), nil
	}
	return s.ToJSON()
}

// UnmarshalJSON implements [json.Unmarshaler] with the decoding of [FromJSON]. JSON
// null is the zero Session.
func (s *Session) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		*s = Session{}
		return nil
	}
	decoded, err := FromJSON(data)
	if err != nil {
		return err
	}
	*s = decoded
	return nil
}

// MarshalJSON implements json.Marshaler with the JSON object that a session file holds
// for m, as ToJSON writes it.
func (m Message) MarshalJSON() ([]byte, error) {
	data, err := m.appendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("session: message: %w", err)
	}
	return data, nil
}

// UnmarshalJSON implements json.Unmarshaler for the JSON object of a message in a
// session file, as FromJSON reads it, with the same errors. As is the convention, JSON
// null leaves *m unchanged.
func (m *Message) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var decoded Message
	err := decodeAll(data, func(d *decoder) (err error) {
		decoded, err = d.message()
		return err
	})
	if err != nil {
		return fmt.Errorf("session: message: %w", err)
	}
	*m = decoded
	return nil
}
