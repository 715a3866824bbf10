package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/exllm-go/session/internal/jsonwire"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Session holds only JSON values: nil, bool, string, json.Number, map[string]any and
// []any, nested. Values that callers hand in (WithExtra, WithParts, SetContext) are
// converted to that form at once by jsonValue, so that a session reads the same before
// a save and after a load, and so that no value a caller keeps is shared with it.

// startDetectingCycles is the nesting depth after which jsonValue looks for a map or
// slice that contains itself, as encoding/json does: cheaper than tracking every level.
const startDetectingCycles = 1000

// converter converts one value to JSON values; see jsonValue.
type converter struct {
	depth int                  // nesting of the value being converted in the file
	path  map[uintptr]struct{} // the storage of the maps and slices being converted, past startDetectingCycles
}

// jsonValue returns v as encoding/json would decode its encoding into an any, but with
// numbers as json.Number: structs by their json tags, typed maps and slices as
// map[string]any and []any, numbers as json.Number. The result shares no map or slice
// with v. depth is how deeply v is nested in a session's JSON, so that what a session
// holds can always be read back (encoding/json and FromJSON refuse more than maxDepth).
// Values that have no JSON encoding (a cycle, a channel, NaN) are an error.
func jsonValue(v any, depth int) (any, error) {
	c := converter{depth: depth}
	return c.value(v)
}

func (c *converter) value(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return v, nil // strings as given: jsonwire.AppendString writes invalid UTF-8 as U+FFFD
	case map[string]any:
		if x == nil {
			return nil, nil // encoding/json writes null, which reads back as nil
		}
		return c.object(x)
	case []any:
		if x == nil {
			return nil, nil
		}
		return c.array(x)
	case json.Number:
		return number(x)
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case float64:
		b, err := jsonwire.AppendFloat(nil, x)
		return json.Number(b), err
	}
	return c.encoded(v)
}

func (c *converter) object(m map[string]any) (any, error) {
	var ptr uintptr
	if c.depth >= startDetectingCycles {
		ptr = reflect.ValueOf(m).Pointer()
	}
	if err := c.enter(ptr, "map[string]interface {}"); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		ce, err := c.value(e)
		if err != nil {
			return nil, prefixPath(k, err)
		}
		if !isASCII(k) && !utf8.ValidString(k) {
			// Kept as it is written and read back, unless another key is written alike.
			written := validUTF8(k)
			if _, dup := m[written]; dup {
				return nil, duplicateKeyError(k, written)
			}
			if _, dup := out[written]; dup {
				return nil, duplicateKeyError(k, written)
			}
			k = written
		}
		out[k] = ce
	}
	c.leave(ptr)
	return out, nil
}

func (c *converter) array(a []any) (any, error) {
	var ptr uintptr
	if c.depth >= startDetectingCycles && len(a) > 0 {
		ptr = reflect.ValueOf(a).Pointer() // of a[0]; the converted values keep it alive
	}
	if err := c.enter(ptr, "[]interface {}"); err != nil {
		return nil, err
	}
	out := make([]any, len(a))
	for i, e := range a {
		ce, err := c.value(e)
		if err != nil {
			return nil, prefixPath(fmt.Sprintf("[%d]", i), err)
		}
		out[i] = ce
	}
	c.leave(ptr)
	return out, nil
}

// enter goes one level deeper, into a map or slice of the named type whose storage is
// at ptr (0 above startDetectingCycles), failing if it is nested too deeply or is
// already on the path from the top: a cycle.
func (c *converter) enter(ptr uintptr, typeName string) error {
	if c.depth >= maxDepth {
		return errTooDeep
	}
	if ptr != 0 {
		if _, ok := c.path[ptr]; ok {
			return fmt.Errorf("json: unsupported value: encountered a cycle via %s", typeName)
		}
		if c.path == nil {
			c.path = make(map[uintptr]struct{})
		}
		c.path[ptr] = struct{}{}
	}
	c.depth++
	return nil
}

// leave goes back up from what enter went into.
func (c *converter) leave(ptr uintptr) {
	c.depth--
	if ptr != 0 {
		delete(c.path, ptr)
	}
}

var errTooDeep = errors.New("exceeded max depth of nesting")

// encoded converts a value of any other type through its JSON encoding.
func (c *converter) encoded(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := decoder{data: data}
	d.skipSpace()
	out, err := d.value(c.depth)
	if errors.Is(err, errSyntax) {
		return nil, errTooDeep // json.Marshal writes valid JSON, too deep for FromJSON
	}
	return out, err
}

// number returns n as encoding/json writes it: "" as 0, and an error if n is not a
// JSON number.
func number(n json.Number) (json.Number, error) {
	if n == "" {
		return "0", nil
	}
	if !jsonwire.ValidNumber(string(n)) {
		return "", fmt.Errorf("json: invalid number literal %q", string(n))
	}
	return n, nil
}

// cloneValue returns a copy of v, a JSON value, that shares no map or slice with it.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		if v == nil {
			return v
		}
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}

// cloneMap returns a deep copy of m, a map of JSON values.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

// cloneParts returns a deep copy of parts.
func cloneParts(parts []map[string]any) []map[string]any {
	if parts == nil {
		return nil
	}
	c := make([]map[string]any, len(parts))
	for i, p := range parts {
		c[i] = cloneMap(p)
	}
	return c
}

// isASCII reports whether s is ASCII, in a loop short enough to be inlined: most keys
// are.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validUTF8 returns s with each byte that is not valid UTF-8 replaced by U+FFFD, as
// encoding/json and jsonwire.AppendString write it; s itself, without copying, when it is valid.
func validUTF8(s string) string {
	if isASCII(s) || utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += size
	}
	return b.String()
}

// jsonEqual reports whether a and b, JSON values, are written alike: strings that differ
// only in bytes that are not valid UTF-8, which are written as U+FFFD, are equal.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && stringsEqual(a, b)
	case map[string]any:
		b, ok := b.(map[string]any)
		return ok && (a == nil) == (b == nil) && mapsEqual(a, b)
	case []any:
		b, ok := b.([]any)
		return ok && (a == nil) == (b == nil) && slices.EqualFunc(a, b, jsonEqual)
	case nil, bool, json.Number:
		return a == b
	}
	return reflect.DeepEqual(a, b) // not a JSON value: a Message made by hand
}

// mapsEqual reports whether two objects of JSON values are written alike, nil and empty
// alike. It is symmetric: keys that are not UTF-8 (in a Message made by hand) are
// compared as they are written, and an object with two keys written alike, which cannot
// be written, equals only an object with the same keys.
func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return writtenMapsEqual(a, b)
		}
		if !jsonEqual(va, vb) {
			return false
		}
	}
	return true
}

// writtenMapsEqual compares two objects of the same length by their keys as written.
func writtenMapsEqual(a, b map[string]any) bool {
	wa, wb := writtenKeys(a), writtenKeys(b)
	if wa == nil || wb == nil {
		return false
	}
	for k, va := range wa {
		vb, ok := wb[k]
		if !ok || !jsonEqual(va, vb) {
			return false
		}
	}
	return true
}

// writtenKeys returns m by its keys as written, or nil if two keys are written alike.
func writtenKeys(m map[string]any) map[string]any {
	w := make(map[string]any, len(m))
	for k, v := range m {
		k = validUTF8(k)
		if _, dup := w[k]; dup {
			return nil
		}
		w[k] = v
	}
	return w
}

func stringsEqual(a, b string) bool { return a == b || validUTF8(a) == validUTF8(b) }
