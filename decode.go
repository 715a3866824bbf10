package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/exllm-go/session/internal/jsonwire"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is how deeply arrays and objects may nest, as in encoding/json.
const maxDepth = 10000

// errSyntax marks a syntax error found by the decoder; decodeSession replaces it with
// the *json.SyntaxError that encoding/json reports for the same input.
var errSyntax = errors.New("invalid JSON")

// decoder reads the JSON of a session in one pass over data. It decodes numbers of
// context and extra fields as json.Number and replaces invalid UTF-8 in strings with
// U+FFFD, as encoding/json does.
type decoder struct {
	data  []byte
	pos   int
	dates jsonwire.DayCache // the day of the last timestamp read, as most are of few days
}

// decodeSession decodes the JSON of a session. Its errors have no "session: " prefix.
// Malformed JSON is always reported as such, as a *json.SyntaxError, even where the
// decoder found a wrong value before the place where the JSON breaks.
func decodeSession(data []byte) (Session, error) {
	var s Session
	err := decodeAll(data, func(d *decoder) (err error) {
		s, err = d.session()
		return err
	})
	if err != nil {
		return Session{}, err
	}
	return s, nil
}

// decodeAll runs read on data, which must hold one JSON value and nothing but space
// after it: the one entry of every decoding, so that all check trailing data alike.
// Malformed JSON is always reported as such, as a *json.SyntaxError, even where read
// found a wrong value before the place where the JSON breaks.
func decodeAll(data []byte, read func(d *decoder) error) error {
	d := decoder{data: data}
	err := read(&d)
	if err == nil {
		d.skipSpace()
		if d.pos < len(d.data) {
			err = errSyntax
		}
	}
	if err != nil && (errors.Is(err, errSyntax) || !json.Valid(data)) {
		return syntaxError(data, d.pos)
	}
	return err
}

// syntaxError returns the error encoding/json reports for data, which is not valid JSON.
func syntaxError(data []byte, pos int) error {
	var v any
	var serr *json.SyntaxError
	if err := json.Unmarshal(data, &v); errors.As(err, &serr) {
		return fmt.Errorf("offset %d: %w", serr.Offset, serr)
	}
	return fmt.Errorf("offset %d: %w", pos, errSyntax)
}

// typeError reports a value of the wrong JSON type at the decoder's position.
func (d *decoder) typeError(path string, want reflect.Type) error {
	kind := "value"
	switch d.peek() {
	case '"':
		kind = "string"
	case '{':
		kind = "object"
	case '[':
		kind = "array"
	case 't', 'f':
		kind = "bool"
	case 'n':
		kind = "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		kind = "number"
	}
	return &fieldError{path, &json.UnmarshalTypeError{Value: kind, Type: want, Offset: int64(d.pos)}}
}

var (
	stringType   = reflect.TypeFor[string]()
	timeType     = reflect.TypeFor[time.Time]()
	intType      = reflect.TypeFor[int]()
	messageType  = reflect.TypeFor[Message]()
	messagesType = reflect.TypeFor[[]Message]()
	usageType    = reflect.TypeFor[TokenUsage]()
	sessionType  = reflect.TypeFor[Session]()
)

func (d *decoder) session() (Session, error) {
	var s Session
	var msgs []Message
	var hasID, hasCreated, hasUpdated, hasUsage bool
	if d.peek() != '{' {
		return s, d.typeError("", sessionType)
	}
	err := d.object(0, func(key []byte) error {
		var err error
		switch string(key) {
		case "id":
			if d.peek() != '"' {
				return d.typeError("id", stringType)
			}
			if s.id, err = d.str(); err == nil && s.id == "" {
				return &fieldError{"id", errors.New("must not be empty")}
			}
			hasID = true
		case "llm_backend":
			s.backend, err = d.optionalString("llm_backend")
		case "name":
			s.name, err = d.optionalString("name")
		case "created_at":
			s.created, err = d.time("created_at")
			hasCreated = true
		case "updated_at":
			s.updated, err = d.time("updated_at")
			hasUpdated = true
		case "context":
			s.context, s.otherContext, err = d.context()
		case "token_usage":
			s.usage, s.usageKeys, s.unknownUsage, s.keptUsage, err = d.usage()
			hasUsage = true
		case "messages":
			msgs, err = d.messages()
		default:
			err = d.member(&s.unknown, key, 1)
		}
		return err
	})
	if err != nil {
		return Session{}, err
	}
	for _, f := range []struct {
		ok   bool
		name string
	}{{hasID, "id"}, {hasCreated, "created_at"}, {hasUpdated, "updated_at"}} {
		if !f.ok {
			return Session{}, &fieldError{f.name, errors.New("missing")}
		}
	}
	if !hasUsage {
		s.keptUsage = &keptUsage{form: usageMissing}
	}
	if v, ok := s.unknown[summaryKey]; ok {
		if s.summary = summaryOf(v); s.summary != nil {
			delete(s.unknown, summaryKey)
			if len(s.unknown) == 0 {
				s.unknown = nil
			}
		}
	}
	s.messages = newMessageLog(msgs)
	return s, nil
}

// member reads a value into (*m)[key], making *m if it is nil.
func (d *decoder) member(m *map[string]any, key []byte, depth int) error {
	if *m == nil {
		*m = make(map[string]any)
	}
	v, err := d.value(depth)
	(*m)[string(key)] = v
	return err
}

// nullOr reads a null and reports true, or reports false with the decoder at a value
// that begins with open; any other value is an error of the wrong type.
func (d *decoder) nullOr(open byte, path string, want reflect.Type) (bool, error) {
	switch d.peek() {
	case 'n':
		return true, d.null()
	case open:
		return false, nil
	}
	return false, d.typeError(path, want)
}

func (d *decoder) optionalString(path string) (optionalString, error) {
	if null, err := d.nullOr('"', path, stringType); null || err != nil {
		return optionalString{}, err
	}
	s, err := d.str()
	return optionalString{value: s, ok: true}, err
}

// time reads a required time: a string in one of the forms jsonwire.ParseTime reads.
func (d *decoder) time(path string) (keptTime, error) {
	if d.peek() != '"' {
		return keptTime{}, d.typeError(path, timeType)
	}
	raw, err := d.rawString()
	if err != nil {
		return keptTime{}, err
	}
	if t, ok := jsonwire.ParseCanonicalTime(raw); ok {
		return keptTime{at: t}, nil
	}
	k, err := readTime(string(raw))
	if err != nil {
		return keptTime{}, &fieldError{path, err}
	}
	return k, nil
}

// context reads the context: an object, kept as a map (nil when empty), or any other
// JSON value, kept as it is.
func (d *decoder) context() (map[string]any, keptValue, error) {
	v, err := d.value(1)
	if m, ok := v.(map[string]any); ok {
		if len(m) == 0 {
			m = nil
		}
		return m, keptValue{}, err
	}
	return nil, keptValue{value: v, ok: true}, err
}

// usage reads token_usage, and the form it has where the package would write it
// otherwise (see keptUsage).
func (d *decoder) usage() (u TokenUsage, keys usageKeySet, unknown map[string]any, kept *keptUsage, err error) {
	if null, err := d.nullOr('{', "token_usage", usageType); null || err != nil {
		return u, 0, nil, &keptUsage{form: usageNull}, err
	}
	var counts [len(usageFields)]string
	odd := false
	err = d.object(1, func(key []byte) error {
		i := usageField(string(key))
		if i < 0 {
			return d.member(&unknown, key, 2)
		}
		if !usageFields[i].always {
			keys |= 1 << i
		}
		n, lit, err := d.tokenCount("token_usage." + usageFields[i].key)
		*usageFields[i].count(&u) = n
		counts[i] = lit
		odd = odd || lit != ""
		return err
	})
	if odd {
		kept = &keptUsage{counts: counts, at: u}
	}
	return u, keys, unknown, kept, err
}

// tokenCount reads a count of tokens: a number, its whole part if it has a fraction
// (ExLLM adds whatever numbers it is given); null is 0. lit is the number as written,
// where it is not n written in decimal. A number outside the range of an int is an
// error.
func (d *decoder) tokenCount(path string) (n int, lit string, err error) {
	if d.peek() == 'n' {
		return 0, "", d.null()
	}
	if c := d.peek(); c != '-' && !isDigit(c) {
		return 0, "", d.typeError(path, intType)
	}
	if lit, err = d.number(); err != nil {
		return 0, "", err
	}
	if n, err = strconv.Atoi(lit); err == nil {
		if strconv.Itoa(n) == lit {
			lit = ""
		}
		return n, lit, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.Abs(f) >= 1<<63 {
		return 0, "", &fieldError{path, fmt.Errorf("token count %s is out of range", lit)}
	}
	return int(f), lit, nil
}

// messages reads the list of messages.
func (d *decoder) messages() ([]Message, error) {
	if null, err := d.nullOr('[', "messages", messagesType); null || err != nil {
		return nil, err
	}
	var msgs []Message
	start := d.pos
	err := d.array(1, func(i int) error {
		m, ok := d.writtenMessage()
		var err error
		if !ok {
			m, err = d.message()
		}
		msgs = append(msgs, m)
		if err != nil {
			return within(fmt.Sprintf("messages[%d]", i), err)
		}
		if i == 0 {
			// Room for as many messages as the rest would hold if they were the size
			// of the first, so that the list is not copied as it grows.
			if size := d.pos - start; size > 0 {
				msgs = slices.Grow(msgs, min((len(d.data)-d.pos)/size, 1<<20))
			}
		}
		return nil
	})
	return msgs, err
}

// writtenMessage reads a message written as ToJSON and ExLLM write the common one, byte
// for byte: {"content":"...","role":"...","timestamp":"..."}, with plain strings and a
// timestamp in the form jsonwire.AppendTime writes. Else it reads nothing and reports false, and
// message reads it.
func (d *decoder) writtenMessage() (Message, bool) {
	start := d.pos
	fail := func() (Message, bool) {
		d.pos = start
		return Message{}, false
	}
	var m Message
	if !d.expect(`{"content":`) || d.peek() != '"' {
		return fail()
	}
	content, err := d.rawString()
	if err != nil || !d.expect(`,"role":`) || d.peek() != '"' {
		return fail()
	}
	m.Content = string(content)
	if m.Role, err = d.role(); err != nil || !d.expect(`,"timestamp":"`) {
		return fail()
	}
	end := d.pos + 27
	if end+2 > len(d.data) || d.data[end] != '"' || d.data[end+1] != '}' {
		return fail()
	}
	t, ok := jsonwire.ParseCanonicalTimeOfDay(d.data[d.pos:end], &d.dates)
	if !ok {
		return fail()
	}
	m.Timestamp = t
	d.pos = end + 2
	return m, true
}

// expect reads lit if the data goes on with it, byte for byte, and reports whether it
// did.
func (d *decoder) expect(lit string) bool {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// message reads a message. An error's path is relative to the message.
func (d *decoder) message() (m Message, err error) {
	if d.peek() != '{' {
		return m, d.typeError("", messageType)
	}
	var hasRole, hasContent bool
	var aux auxFields
	err = d.object(2, func(key []byte) error {
		var err error
		switch string(key) {
		case "role":
			if d.peek() != '"' {
				return d.typeError("role", stringType)
			}
			m.Role, err = d.role()
			hasRole = true
		case "content":
			hasContent = true
			m.Content, m.Parts, aux.content, err = d.content()
		case "timestamp":
			m.Timestamp, aux.timestamp, aux.timestampAt, err = d.timestamp()
		case "token_usage":
			var v any
			if v, err = d.value(3); err == nil {
				if u, ok := messageUsage(v); ok {
					aux.usage = u
					delete(m.Extra, "token_usage")
				} else {
					aux.usage = TokenUsage{}
					setMember(&m.Extra, "token_usage", v)
				}
			}
		default:
			err = d.member(&m.Extra, key, 3)
		}
		return err
	})
	if err == nil && !hasRole {
		err = &fieldError{"role", errors.New("missing")}
	}
	if err == nil && !hasContent {
		err = &fieldError{"content", errors.New("missing")}
	}
	if aux.content.ok || aux.timestamp.ok || !aux.usage.IsZero() {
		kept := aux // a copy, so that aux itself stays off the heap
		m.aux = &kept
	}
	return m, err
}

// setMember sets (*m)[key], making *m if it is nil.
func setMember(m *map[string]any, key string, v any) {
	if *m == nil {
		*m = make(map[string]any)
	}
	(*m)[key] = v
}

// content reads a message's content: a string, a list of objects (parts, and their
// text), or any other value, kept as it is.
func (d *decoder) content() (text string, parts []map[string]any, kept keptValue, err error) {
	if d.peek() == '"' {
		text, err = d.str()
		return text, nil, keptValue{}, err
	}
	v, err := d.value(3)
	if list, ok := v.([]any); ok {
		parts = make([]map[string]any, len(list))
		for i, e := range list {
			if parts[i], ok = e.(map[string]any); !ok {
				break
			}
		}
		if ok {
			return partsText(parts), parts, keptValue{}, err
		}
	}
	return "", nil, keptValue{value: v, ok: true}, err
}

// timestamp reads a message's timestamp. A string as jsonwire.AppendTime writes it is only a time; any
// other value is kept to be written back, with the time it parses to, if it does.
func (d *decoder) timestamp() (t time.Time, kept keptValue, at time.Time, err error) {
	if d.peek() == '"' {
		start := d.pos
		raw, err := d.rawString()
		if err != nil {
			return t, kept, at, err
		}
		if t, ok := jsonwire.ParseCanonicalTimeOfDay(raw, &d.dates); ok {
			return t, keptValue{}, time.Time{}, nil
		}
		d.pos = start
	}
	v, err := d.value(3)
	if err != nil {
		return t, kept, at, err
	}
	if text, ok := v.(string); ok {
		if k, perr := readTime(text); perr == nil {
			if k.text == "" {
				return k.at, keptValue{}, time.Time{}, nil
			}
			t = k.at
		}
	}
	return t, keptValue{value: v, ok: true}, t, nil
}

// messageUsage returns the usage in a message's token_usage, v, if v is exactly what
// appendUsage writes for a usage that is not zero; otherwise v is kept as an extra field.
func messageUsage(v any) (TokenUsage, bool) {
	var u TokenUsage
	m, ok := v.(map[string]any)
	if !ok {
		return u, false
	}
	for key, e := range m {
		i := usageField(key)
		num, ok := e.(json.Number)
		if i < 0 || !ok {
			return u, false
		}
		n, err := strconv.Atoi(string(num))
		if err != nil || n < 0 || strconv.Itoa(n) != string(num) || (n == 0 && !usageFields[i].always) {
			return u, false
		}
		*usageFields[i].count(&u) = n
	}
	for _, f := range usageFields {
		if _, ok := m[f.key]; f.always && !ok {
			return u, false
		}
	}
	return u, !u.IsZero()
}

// role reads a string, without allocating for the common roles.
func (d *decoder) role() (string, error) {
	raw, err := d.rawString()
	if err != nil {
		return "", err
	}
	switch string(raw) {
	case "user":
		return "user", nil
	case "assistant":
		return "assistant", nil
	case "system":
		return "system", nil
	case "tool":
		return "tool", nil
	}
	return string(raw), nil
}

// value reads any JSON value as encoding/json decodes it into an any, but with numbers
// as json.Number.
func (d *decoder) value(depth int) (any, error) {
	switch d.peek() {
	case '"':
		return d.str()
	case '{':
		m := make(map[string]any)
		err := d.object(depth, func(key []byte) error {
			v, err := d.value(depth + 1)
			m[string(key)] = v
			return err
		})
		return m, err
	case '[':
		a := []any{}
		err := d.array(depth, func(int) error {
			v, err := d.value(depth + 1)
			a = append(a, v)
			return err
		})
		return a, err
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.null()
	}
	lit, err := d.number()
	return json.Number(lit), err
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end of the input.
func (d *decoder) peek() byte {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// object reads an object, at the '{', calling member for each key with the decoder
// at the key's value. member must read the value.
//
// A key that comes again in the object is read, as JSON, and its value left out: the
// first value of a key is the one a file means, as ExLLM (Jason) reads it.
func (d *decoder) object(depth int, member func(key []byte) error) error {
	empty, err := d.open(depth, '}')
	var keys seenKeys
	for more := !empty; more && err == nil; {
		if d.peek() != '"' {
			return errSyntax
		}
		key, kerr := d.rawString()
		if kerr != nil {
			return kerr
		}
		if d.peek() != ':' {
			return errSyntax
		}
		d.pos++
		d.peek()
		if keys.seen(key) {
			if _, verr := d.value(depth + 1); verr != nil {
				return verr
			}
		} else if merr := member(key); merr != nil {
			return merr
		}
		more, err = d.more('}')
	}
	return err
}

// seenKeys is the set of keys of an object read so far: a few in place, more in a map.
type seenKeys struct {
	few  [8][]byte
	n    int
	many map[string]struct{}
}

// seen reports whether key was seen before, and adds it.
func (s *seenKeys) seen(key []byte) bool {
	for _, k := range s.few[:s.n] {
		if string(k) == string(key) {
			return true
		}
	}
	if s.n < len(s.few) {
		s.few[s.n] = key
		s.n++
		return false
	}
	if _, ok := s.many[string(key)]; ok {
		return true
	}
	if s.many == nil {
		s.many = make(map[string]struct{})
	}
	s.many[string(key)] = struct{}{}
	return false
}

// array reads an array, at the '[', calling elem for each element with the decoder at
// the element. elem must read the element.
func (d *decoder) array(depth int, elem func(i int) error) error {
	empty, err := d.open(depth, ']')
	for i, more := 0, !empty; more && err == nil; i++ {
		d.peek()
		if eerr := elem(i); eerr != nil {
			return eerr
		}
		more, err = d.more(']')
	}
	return err
}

// open reads the '{' or '[' that opens an object or array nested depth deep, and
// reports whether close follows at once.
func (d *decoder) open(depth int, close byte) (empty bool, err error) {
	if depth >= maxDepth {
		return false, errSyntax
	}
	d.pos++
	if d.peek() == close {
		d.pos++
		return true, nil
	}
	return false, nil
}

// more reads the ',' before another member or element, or the close of its object or
// array, and reports which.
func (d *decoder) more(close byte) (bool, error) {
	switch d.peek() {
	case ',':
		d.pos++
		return true, nil
	case close:
		d.pos++
		return false, nil
	}
	return false, errSyntax
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return errSyntax
	}
	d.pos += len(lit)
	return nil
}

func (d *decoder) null() error { return d.literal("null") }

func (d *decoder) number() (string, error) {
	n, ok := jsonwire.ScanNumber(d.data[d.pos:])
	if !ok {
		d.pos += n
		return "", errSyntax
	}
	lit := string(d.data[d.pos : d.pos+n])
	d.pos += n
	return lit, nil
}

// str reads a string, at its opening quote.
func (d *decoder) str() (string, error) {
	raw, err := d.rawString()
	return string(raw), err
}

// rawString reads a string, at its opening quote, and returns its unescaped bytes: a
// part of the input when it has no escapes and is valid UTF-8, else a new buffer.
func (d *decoder) rawString() ([]byte, error) {
	start := d.pos + 1
	// The common string: printable ASCII with no escape. A short one (a key, a role) is
	// read a byte at a time; a longer one is found by its closing quote (a search in
	// assembly) and checked in words of eight bytes.
	for i := start; i < len(d.data) && i < start+16; i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], nil
		case c < 0x20 || c >= 0x80 || c == '\\':
			goto slow
		}
	}
	if q := bytes.IndexByte(d.data[start:], '"'); q >= 0 && jsonwire.PlainText(d.data[start:start+q]) {
		d.pos = start + q + 1
		return d.data[start : start+q], nil
	}
slow:
	for i := start; i < len(d.data); {
		if i = jsonwire.SkipPlainBytes(d.data, i); i >= len(d.data) {
			break
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], nil
		case c == '\\' || c < 0x20:
			return d.unescape(start)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				return d.unescape(start)
			}
			i += size
		}
	}
	d.pos = len(d.data)
	return nil, errSyntax
}

// unescape reads the string that starts at data[start], after its opening quote, into a
// new buffer, resolving escapes and replacing invalid UTF-8 with U+FFFD.
func (d *decoder) unescape(start int) ([]byte, error) {
	data := d.data
	buf := make([]byte, 0, 64)
	for i := start; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return buf, nil
		case c < 0x20:
			d.pos = i
			return nil, errSyntax
		case c == '\\':
			if i+1 >= len(data) {
				d.pos = i
				return nil, errSyntax
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(data[i+2:])
				if !ok {
					d.pos = i
					return nil, errSyntax
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(0), false
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2, ok = hex4(data[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				d.pos = i
				return nil, errSyntax
			}
			i += 2
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, data[i:i+size]...)
			}
			i += size
		}
	}
	d.pos = len(data)
	return nil, errSyntax
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
