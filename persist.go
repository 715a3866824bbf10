package session

import (
	"bytes"
	"fmt"
	"os"
)

// ToJSON returns the JSON encoding of s, as ExLLM.Session.to_json: one object with the
// keys id, llm_backend, messages, context, created_at, updated_at, token_usage and name,
// which ExLLM reads and writes. Timestamps are RFC 3339 in UTC; a message is an object of
// its role, content, timestamp (left out when zero) and Extra fields; an absent backend
// or name is null. Keys are sorted, so the same session always gives the same bytes.
//
// It fails for the zero Session and for context or Extra values that encoding/json
// cannot encode, naming the field (session: messages[3].metadata: ...).
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
	data, err := s.appendJSON(make([]byte, 0, s.sizeHint()))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// AppendJSON appends the JSON encoding of s, as made by ToJSON, to b, for callers that
// reuse a buffer. On error it returns b as it was.
func (s Session) AppendJSON(b []byte) ([]byte, error) {
	out, err := s.appendJSON(b)
	if err != nil {
		return b, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

// sizeHint estimates the length of the JSON of s, to allocate it once.
func (s Session) sizeHint() int {
	n := 512
	for _, m := range s.messages.view() {
		n += len(m.Content) + len(m.Role) + 80
		if m.Extra != nil {
			n += 64 * len(m.Extra)
		}
	}
	return n
}

// FromJSON decodes a session from JSON written by ToJSON or by ExLLM, as
// ExLLM.Session.from_json.
//
// id (a non-empty string), created_at and updated_at are required; a missing or null
// messages, context, token_usage, llm_backend or name is empty. Numbers in the context
// and in messages' Extra fields decode as json.Number, so that integers of any size
// survive; other values decode as encoding/json decodes into an any. Keys that this
// package has no field for are kept and written again by ToJSON, as are null content
// and timestamp fields, so a session read and written again loses nothing.
//
// An error names the field that is wrong (session: messages[3].timestamp: ...) and wraps
// the cause: a *json.SyntaxError for malformed JSON, a *json.UnmarshalTypeError for a
// value of the wrong type, a *time.ParseError for a bad timestamp.
func FromJSON(data []byte) (Session, error) {
	s, err := decodeSession(data)
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// MarshalJSON implements json.Marshaler with the encoding of ToJSON.
func (s Session) MarshalJSON() ([]byte, error) {
	return s.ToJSON()
}

// UnmarshalJSON implements json.Unmarshaler with the decoding of FromJSON. As is the
// convention, JSON null leaves *s unchanged.
func (s *Session) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	decoded, err := FromJSON(data)
	if err != nil {
		return err
	}
	*s = decoded
	return nil
}

// SaveToFile writes the JSON of s (see ToJSON) to the file at path, as
// ExLLM.Session.save_to_file, so that the file holds either its old content or the new,
// whole, whenever the process or the machine stops: it writes a temporary file in the
// same directory, syncs it to disk, renames it over path and syncs the directory. A new
// file is created with mode 0600, since conversations are private; an existing file
// keeps its mode. A symbolic link at path is followed. On error the file at path is
// unchanged and no temporary file is left.
//
// On Linux the temporary file has no name while it is written and synced (O_TMPFILE), so
// that only a process killed in the instant between naming it and renaming it over path
// can leave it behind, as a hidden ".NAME.tmp-PID-..." file beside path; the next save
// of path removes such files of processes that are no longer running.
func (s Session) SaveToFile(path string) error {
	data, err := s.encode()
	if err != nil {
		return fmt.Errorf("session: save %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("session: save %s: %w", path, err)
	}
	return nil
}

// LoadFromFile reads a session from the JSON file at path, written by SaveToFile or by
// ExLLM, as ExLLM.Session.load_from_file. Errors name the path and are those of FromJSON
// or of reading the file: a missing file satisfies errors.Is(err, fs.ErrNotExist).
func LoadFromFile(path string) (Session, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Session{}, fmt.Errorf("session: load: %w", err) // a *fs.PathError names path
	}
	s, err := decodeSession(data)
	if err != nil {
		return Session{}, fmt.Errorf("session: load %s: %w", path, err)
	}
	return s, nil
}
