package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// fieldError is an error about one field of a session's JSON, named by its path, such
// as messages[3].timestamp. Its message has no "session: " prefix: the exported function
// that returns it adds the prefix, and the file name where there is one.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}
func (e *fieldError) Unwrap() error { return e.err }

// within returns err, a *fieldError, with its path made relative to the field named by
// path.
func within(path string, err error) error {
	fe := err.(*fieldError)
	return &fieldError{path + "." + fe.path, fe.err}
}

// errZeroSession is reported when encoding a Session that New did not make.
var errZeroSession = errors.New("empty (the zero Session cannot be encoded: create sessions with New)")

// sessionKeys are the top-level keys ExLLM writes, in the sorted order they are written.
var sessionKeys = []string{"context", "created_at", "id", "llm_backend", "messages", "name", "token_usage", "updated_at"}

// appendJSON appends the JSON encoding of s to b, with every object's keys sorted.
func (s Session) appendJSON(b []byte) ([]byte, error) {
	if s.id == "" {
		return b, &fieldError{"id", errZeroSession}
	}
	var err error
	b = append(b, '{')
	b, err = appendMerged(b, sessionKeys, s.unknown, "", func(b []byte, key string) ([]byte, error) {
		switch key {
		case "context":
			return appendObject(b, s.context, "context")
		case "created_at":
			return appendTime(b, s.createdAt, "created_at")
		case "id":
			return appendString(b, s.id), nil
		case "llm_backend":
			return appendOptional(b, s.backend), nil
		case "messages":
			return s.appendMessages(b)
		case "name":
			return appendOptional(b, s.name), nil
		case "token_usage":
			return s.appendUsage(b)
		default: // "updated_at"
			return appendTime(b, s.updatedAt, "updated_at")
		}
	})
	return append(b, '}'), err
}

var usageKeys = []string{"input_tokens", "output_tokens"}

func (s Session) appendUsage(b []byte) ([]byte, error) {
	b = append(b, '{')
	b, err := appendMerged(b, usageKeys, s.unknownUsage, "token_usage", func(b []byte, key string) ([]byte, error) {
		if key == "input_tokens" {
			return strconv.AppendInt(b, int64(s.usage.InputTokens), 10), nil
		}
		return strconv.AppendInt(b, int64(s.usage.OutputTokens), 10), nil
	})
	return append(b, '}'), err
}

func (s Session) appendMessages(b []byte) ([]byte, error) {
	b = append(b, '[')
	for i, m := range s.messages.view() {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = m.appendJSON(b, s.nulls[i]); err != nil {
			return b, within(fmt.Sprintf("messages[%d]", i), err)
		}
	}
	return append(b, ']'), nil
}

var (
	messageKeys            = []string{"content", "role", "timestamp"}
	messageKeysNoTimestamp = messageKeys[:2]
)

// appendJSON appends the JSON object of m to b, writing empty fields as nulls records
// them: null, or the zero time. An error is a *fieldError whose path is relative to the
// message.
func (m Message) appendJSON(b []byte, nulls nullFields) ([]byte, error) {
	keys := messageKeys
	if m.Timestamp.IsZero() && nulls&(nullTimestamp|zeroTimestamp) == 0 {
		keys = messageKeysNoTimestamp
	}
	if len(m.Extra) == 0 {
		// The common case, without the closure and sorting of appendMerged.
		b = append(b, `{"content":`...)
		b = m.appendContent(b, nulls)
		b = append(b, `,"role":`...)
		b = appendString(b, m.Role)
		if len(keys) == 3 {
			b = append(b, `,"timestamp":`...)
			var err error
			if b, err = m.appendTimestamp(b, nulls); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	b = append(b, '{')
	b, err := appendMerged(b, keys, m.Extra, "", func(b []byte, key string) ([]byte, error) {
		switch key {
		case "content":
			return m.appendContent(b, nulls), nil
		case "role":
			return appendString(b, m.Role), nil
		default: // "timestamp"
			return m.appendTimestamp(b, nulls)
		}
	})
	return append(b, '}'), err
}

func (m Message) appendContent(b []byte, nulls nullFields) []byte {
	if m.Content == "" && nulls&nullContent != 0 {
		return append(b, "null"...)
	}
	return appendString(b, m.Content)
}

func (m Message) appendTimestamp(b []byte, nulls nullFields) ([]byte, error) {
	if m.Timestamp.IsZero() && nulls&zeroTimestamp == 0 {
		return append(b, "null"...), nil
	}
	return appendTime(b, m.Timestamp, "timestamp")
}

// appendMerged appends the members of an object whose known keys (sorted, written by
// appendKnown) and extra keys (written as JSON values) are merged in sorted order. An
// extra key equal to a known key is skipped. path names the object in errors.
func appendMerged(b []byte, known []string, extra map[string]any, path string,
	appendKnown func(b []byte, key string) ([]byte, error)) ([]byte, error) {
	var extraKeys []string
	if len(extra) > 0 {
		extraKeys = sortedKeys(extra)
	}
	first := true
	for len(known) > 0 || len(extraKeys) > 0 {
		var err error
		if !first {
			b = append(b, ',')
		}
		first = false
		if len(extraKeys) == 0 || (len(known) > 0 && known[0] <= extraKeys[0]) {
			key := known[0]
			known = known[1:]
			if len(extraKeys) > 0 && extraKeys[0] == key {
				extraKeys = extraKeys[1:]
			}
			b = appendString(b, key)
			b = append(b, ':')
			b, err = appendKnown(b, key)
		} else {
			key := extraKeys[0]
			extraKeys = extraKeys[1:]
			b = appendString(b, key)
			b = append(b, ':')
			b, err = appendValue(b, extra[key], joinPath(path, key))
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendOptional(b []byte, s optionalString) []byte {
	if !s.ok {
		return append(b, "null"...)
	}
	return appendString(b, s.value)
}

// appendTime appends t as an RFC 3339 string with as many fractional digits as it
// needs, in UTC.
func appendTime(b []byte, t time.Time, path string) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, &fieldError{path, fmt.Errorf("year %d outside of range [0,9999]", y)}
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendObject appends m as a JSON object with sorted keys; a nil m is {}.
func appendObject(b []byte, m map[string]any, path string) ([]byte, error) {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k], joinPath(path, k)); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendValue appends the JSON encoding of v. The types that JSON decodes into (and the
// common numbers) are written here; any other value is written by encoding/json.
func appendValue(b []byte, v any, path string) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		if !isValidNumber(string(v)) {
			return b, &fieldError{path, fmt.Errorf("invalid number literal %q", string(v))}
		}
		return append(b, v...), nil
	case float64:
		return appendFloat(b, v, path)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case map[string]any:
		return appendObject(b, v, path)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return b, &fieldError{path, err}
	}
	return append(b, data...), nil
}

// appendFloat writes f as encoding/json does.
func appendFloat(b []byte, f float64, path string) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, &fieldError{path, fmt.Errorf("unsupported value: %v", f)}
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Turn e-09 into e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// safeASCII reports the ASCII bytes that appendString writes as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 is written as U+FFFD, and
// U+2028 and U+2029 are escaped, as encoding/json does; <, > and & are not escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isValidNumber reports whether s is a JSON number literal.
func isValidNumber(s string) bool {
	n, ok := scanNumber(s)
	return ok && n == len(s)
}

// scanNumber returns the length of the JSON number at the start of s, and false if s
// does not start with one.
func scanNumber[T string | []byte](s T) (int, bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
