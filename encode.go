package session

import (
	"encoding/json"
	"fmt"
	"github.com/exllm-go/session/internal/jsonwire"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sessionKeys are the top-level keys ExLLM writes, in the sorted order they are written.
var (
	sessionKeys       = []string{"context", "created_at", "id", "llm_backend", "messages", "name", "token_usage", "updated_at"}
	sessionHeaderKeys = []string{"context", "created_at", "id", "llm_backend", "name", "token_usage", "updated_at"}
)

// appendJSON appends the JSON encoding of s to b, with every object's keys sorted.
func (s Session) appendJSON(b []byte) ([]byte, error) {
	if err := s.partialError(); err != nil && s.id != "" {
		return b, err
	}
	return s.appendObject(b, sessionKeys)
}

// appendObject appends the JSON object of s with the given keys, sessionKeys or
// sessionHeaderKeys, and the keys a file held that the package does not know.
func (s Session) appendObject(b []byte, keys []string) ([]byte, error) {
	if s.id == "" {
		return b, &fieldError{"id", errZeroSession}
	}
	if s.contextErr != nil {
		return b, s.contextErr
	}
	kept := s.usageKept()
	if kept != nil && kept.form == usageMissing {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "token_usage" })
	}
	if s.summary != nil {
		at, _ := slices.BinarySearch(keys, summaryKey)
		keys = slices.Insert(slices.Clone(keys), at, summaryKey)
	}
	var err error
	b = append(b, '{')
	b, err = appendMerged(b, keys, s.unknown, func(b []byte, key string) ([]byte, error) {
		switch key {
		case "context":
			if s.otherContext.ok {
				return appendValue(b, s.otherContext.value)
			}
			return appendObject(b, s.context)
		case "created_at":
			return s.created.appendJSON(b)
		case "id":
			return jsonwire.AppendString(b, s.id), nil
		case "llm_backend":
			return appendOptional(b, s.backend), nil
		case "messages":
			return s.appendMessages(b)
		case "name":
			return appendOptional(b, s.name), nil
		case summaryKey:
			return s.appendSummary(b), nil
		case "token_usage":
			if kept != nil && kept.form == usageNull {
				return append(b, "null"...), nil
			}
			return appendUsage(b, s.usage, s.usageKeys, s.unknownUsage, kept)
		default: // "updated_at"
			return s.updated.appendJSON(b)
		}
	})
	return append(b, '}'), err
}

// appendUsage appends the token_usage object of u: see usageFields. keys are the keys
// to write even when their count is zero, unknown the keys a file held besides, and
// kept, if not nil, the numbers as a file wrote them.
func appendUsage(b []byte, u TokenUsage, keys usageKeySet, unknown map[string]any, kept *keptUsage) ([]byte, error) {
	var known [len(usageFields)]string
	n := 0
	written := keys.written(u)
	for i, f := range usageFields {
		if written.has(i) {
			known[n] = f.key
			n++
		}
	}
	b = append(b, '{')
	b, err := appendMerged(b, known[:n], unknown, func(b []byte, key string) ([]byte, error) {
		i := usageField(key)
		if kept != nil && kept.counts[i] != "" {
			return append(b, kept.counts[i]...), nil
		}
		return strconv.AppendInt(b, int64(*usageFields[i].count(&u)), 10), nil
	})
	return append(b, '}'), err
}

func (s Session) appendMessages(b []byte) ([]byte, error) {
	b = append(b, '[')
	var dates jsonwire.DateCache
	msgs := s.messages.view()
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = msgs[i].appendJSONOfDay(b, &dates); err != nil {
			return b, prefixPath(fmt.Sprintf("[%d]", s.messages.first()+i), err)
		}
	}
	return append(b, ']'), nil
}

var (
	messageKeys            = []string{"content", "role", "timestamp", "token_usage"}
	messageKeysNoTimestamp = []string{"content", "role", "token_usage"}
)

// appendJSON appends the JSON object of m to b. An error is a *fieldError whose path is
// relative to the message.
func (m Message) appendJSON(b []byte) ([]byte, error) {
	return m.appendJSONOfDay(b, nil)
}

// appendJSONOfDay is appendJSON, with dates taken from c: see jsonwire.AppendTimeOfDay.
func (m *Message) appendJSONOfDay(b []byte, c *jsonwire.DateCache) ([]byte, error) {
	if m.aux == nil && len(m.Extra) == 0 && m.Parts == nil && !m.Timestamp.IsZero() {
		// The common case, without the closure and sorting of appendMerged.
		b = append(b, `{"content":`...)
		b = jsonwire.AppendString(b, m.Content)
		b = append(b, `,"role":`...)
		b = jsonwire.AppendString(b, m.Role)
		b = append(b, `,"timestamp":`...)
		b, err := jsonwire.AppendTimeOfDay(b, m.Timestamp, c)
		if err != nil {
			return b, prefixPath("timestamp", err)
		}
		return append(b, '}'), nil
	}
	if err := m.err(); err != nil {
		return b, err
	}
	keptStamp := m.keptTimestamp()
	keys := messageKeys
	if m.Timestamp.IsZero() && !keptStamp.ok {
		keys = messageKeysNoTimestamp
	}
	usage := m.Usage()
	if usage.IsZero() {
		keys = keys[:len(keys)-1]
	}
	b = append(b, '{')
	b, err := appendMerged(b, keys, m.Extra, func(b []byte, key string) ([]byte, error) {
		switch key {
		case "content":
			return m.appendContent(b)
		case "role":
			return jsonwire.AppendString(b, m.Role), nil
		case "timestamp":
			if keptStamp.ok {
				return appendValue(b, keptStamp.value)
			}
			return jsonwire.AppendTime(b, m.Timestamp)
		default: // "token_usage"
			return appendUsage(b, usage, 0, nil, nil)
		}
	})
	return append(b, '}'), err
}

func (m Message) appendContent(b []byte) ([]byte, error) {
	if m.Parts != nil {
		return appendArray(b, m.Parts)
	}
	if kept := m.keptContent(); kept.ok {
		return appendValue(b, kept.value)
	}
	return jsonwire.AppendString(b, m.Content), nil
}

// appendMerged appends the members of an object whose known keys (sorted, written by
// appendKnown) and extra keys (written as JSON values) are merged in sorted order. An
// extra key equal to a known key is skipped. An error is a *fieldError with a path
// relative to the object.
func appendMerged(b []byte, known []string, extra map[string]any,
	appendKnown func(b []byte, key string) ([]byte, error)) ([]byte, error) {
	var extraKeys []string
	if len(extra) > 0 {
		var err error
		if extraKeys, err = sortedKeys(extra); err != nil {
			return b, err
		}
	}
	first := true
	for len(known) > 0 || len(extraKeys) > 0 {
		if !first {
			b = append(b, ',')
		}
		first = false
		var key string
		var err error
		if len(extraKeys) == 0 || (len(known) > 0 && known[0] <= extraKeys[0]) {
			key, known = known[0], known[1:]
			if len(extraKeys) > 0 && extraKeys[0] == key {
				extraKeys = extraKeys[1:]
			}
			b = jsonwire.AppendString(b, key)
			b = append(b, ':')
			b, err = appendKnown(b, key)
		} else {
			key, extraKeys = extraKeys[0], extraKeys[1:]
			b = jsonwire.AppendString(b, key)
			b = append(b, ':')
			b, err = appendValue(b, extra[key])
		}
		if err != nil {
			return b, prefixPath(key, err)
		}
	}
	return b, nil
}

// sortedKeys returns the keys of m in the order they are written: sorted as they are
// written, with invalid UTF-8 as U+FFFD, so that the order survives a round trip. Two
// keys written alike would be a duplicate key: an error naming both.
func sortedKeys(m map[string]any) ([]string, error) {
	keys := make([]string, 0, len(m))
	valid := true
	for k := range m {
		keys = append(keys, k)
		valid = valid && utf8.ValidString(k)
	}
	if valid {
		slices.Sort(keys)
		return keys, nil
	}
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(validUTF8(a), validUTF8(b)) })
	for i := 1; i < len(keys); i++ {
		if validUTF8(keys[i-1]) == validUTF8(keys[i]) {
			return nil, &fieldError{"", fmt.Errorf("%w: keys %q and %q are both written as %q",
				errDuplicateKey, keys[i-1], keys[i], validUTF8(keys[i]))}
		}
	}
	return keys, nil
}

func appendOptional(b []byte, s optionalString) []byte {
	if !s.ok {
		return append(b, "null"...)
	}
	return jsonwire.AppendString(b, s.value)
}

// appendObject appends m as a JSON object with sorted keys; a nil m is {}. An error
// is a *fieldError with a path relative to m.
func appendObject(b []byte, m map[string]any) ([]byte, error) {
	keys, err := sortedKeys(m)
	if err != nil {
		return b, err
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonwire.AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k]); err != nil {
			return b, prefixPath(k, err)
		}
	}
	return append(b, '}'), nil
}

// appendValue appends the JSON encoding of v. JSON values, the ones a Session holds,
// are written here; any other value is converted to them first, as WithExtra does. An
// error is a *fieldError with a path relative to v.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonwire.AppendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		n, err := number(v)
		if err != nil {
			return b, &fieldError{"", err}
		}
		return append(b, n...), nil
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendObject(b, v)
	case []map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendArray(b, v)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendArray(b, v)
	}
	c, err := jsonValue(v, 0)
	if err != nil {
		return b, prefixPath("", err)
	}
	return appendValue(b, c)
}

// appendArray appends a as a JSON array.
func appendArray[E any](b []byte, a []E) ([]byte, error) {
	b = append(b, '[')
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, e); err != nil {
			return b, prefixPath(fmt.Sprintf("[%d]", i), err)
		}
	}
	return append(b, ']'), nil
}
