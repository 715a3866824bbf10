package session_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// fixtures holds files written by ExLLM v0.5.0 itself.
const fixtures = "testdata/exllm"

func fixturePaths(t testing.TB) []string {
	paths, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no ExLLM fixtures in %s", fixtures)
	return paths
}

// normalized decodes JSON into any, with numbers as json.Number and every timestamp
// field as the RFC 3339 form of its instant in UTC, so that two files compare equal
// when they hold the same data.
func normalized(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "created_at" || k == "updated_at" || k == "timestamp") {
					ts, err := time.Parse(time.RFC3339Nano, s)
					require.NoError(t, err)
					v[k] = ts.UTC().Format(time.RFC3339Nano)
					continue
				}
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		}
		return v
	}
	return walk(v)
}

func TestFixturesSurviveLoadAndSave(t *testing.T) {
	for _, path := range fixturePaths(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			original, err := os.ReadFile(path)
			require.NoError(t, err)
			s, err := session.LoadFromFile(path)
			require.NoError(t, err)
			out := filepath.Join(t.TempDir(), "saved.json")
			require.NoError(t, s.SaveToFile(out))
			saved, err := os.ReadFile(out)
			require.NoError(t, err)
			asRead, err := decodeAny(original)
			require.NoError(t, err)
			back, err := decodeAny(saved)
			require.NoError(t, err)
			assert.Equal(t, asRead, back, "the same data, as ExLLM reads it")
			if filepath.Base(path) != "context_duplicate_key.json" {
				assert.Equal(t, string(original), string(saved), "the same bytes as ExLLM's")
			}
		})
	}
}

func TestFixtureContents(t *testing.T) {
	basic, err := session.LoadFromFile(filepath.Join(fixtures, "basic.json"))
	require.NoError(t, err)
	assert.Equal(t, "c017f8f90719135e000341031ca258d0", basic.ID())
	assert.Equal(t, "anthropic", basic.Backend())
	assert.Equal(t, "Test Chat", basic.Name())
	assert.Equal(t, session.TokenUsage{InputTokens: 10, OutputTokens: 15}, basic.TokenUsage())
	assert.Equal(t, []string{"Hello!", "Hi there!"}, contents(basic.GetMessages(0)))
	assert.Equal(t, time.Date(2026, 11, 24, 14, 23, 55, 857029000, time.UTC), basic.GetMessages(1)[0].Timestamp)
	assert.Equal(t, time.Date(2026, 11, 24, 14, 23, 55, 854406000, time.UTC), basic.CreatedAt())

	empty, err := session.LoadFromFile(filepath.Join(fixtures, "empty.json"))
	require.NoError(t, err)
	assert.Equal(t, "", empty.Backend())
	assert.Equal(t, "", empty.Name())
	assert.Equal(t, 0, empty.Len())

	tool, err := session.LoadFromFile(filepath.Join(fixtures, "tool_call.json"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"model": "gpt-4o-mini", "temperature": json.Number("0.2")}, tool.Context())
	msgs := tool.GetMessages(0)
	require.Len(t, msgs, 4)
	assert.Equal(t, "call_9", msgs[1].Extra["tool_calls"].([]any)[0].(map[string]any)["id"])
	assert.Equal(t, map[string]any{"tool_call_id": "call_9"}, msgs[2].Extra)
	assert.Equal(t, map[string]any{"metadata": map[string]any{"finish_reason": "stop"}}, msgs[3].Extra)
}

func keysOf(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keysInOrder returns the keys of a JSON object in the order they are written.
func keysInOrder(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var keys []string
	_, err := dec.Token() // {
	require.NoError(t, err)
	for dec.More() {
		key, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, key.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestToJSONFormat(t *testing.T) {
	s := session.New("").
		AddMessage("user", "Hello!").
		AddMessage("tool", "{}", session.WithTimestamp(time.Time{}), session.WithExtra("tool_call_id", "call_9"))
	data, err := s.ToJSON()
	require.NoError(t, err)
	assert.Equal(t, []string{"context", "created_at", "id", "llm_backend", "messages", "name", "token_usage", "updated_at"}, keysOf(t, data))

	var doc struct {
		LLMBackend *string           `json:"llm_backend"`
		Name       *string           `json:"name"`
		Context    map[string]any    `json:"context"`
		TokenUsage map[string]any    `json:"token_usage"`
		Messages   []json.RawMessage `json:"messages"`
		CreatedAt  string            `json:"created_at"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Nil(t, doc.LLMBackend)
	assert.Nil(t, doc.Name)
	assert.Equal(t, map[string]any{}, doc.Context)
	assert.Equal(t, map[string]any{"input_tokens": 0.0, "output_tokens": 0.0}, doc.TokenUsage)
	assert.Equal(t, s.CreatedAt().Format("2006-01-02T15:04:05.000000Z"), doc.CreatedAt)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, doc.CreatedAt, "six fraction digits, as ExLLM writes")
	require.Len(t, doc.Messages, 2)
	assert.Equal(t, []string{"content", "role", "timestamp"}, keysOf(t, doc.Messages[0]))
	assert.JSONEq(t, `{"role":"tool","content":"{}","tool_call_id":"call_9"}`, string(doc.Messages[1]))

	again, err := s.ToJSON()
	require.NoError(t, err)
	assert.Equal(t, data, again, "the same session must give the same bytes")
	assert.True(t, json.Valid(data))
	assert.Equal(t, []string{"context", "created_at", "id", "llm_backend", "messages", "name", "token_usage", "updated_at"}, keysInOrder(t, data))
}

// TestNothingLost loads a file with every kind of field this package has no Go field
// for, and nulls where they are allowed, and checks that saving it writes them back.
func TestNothingLost(t *testing.T) {
	const file = `{
	  "id": "s1", "created_at": "2026-01-02T03:04:05.123456789Z", "updated_at": "2026-01-02T04:04:05+01:00",
	  "llm_backend": "", "name": null,
	  "context": {"big": 9223372036854775807, "huge": 123456789012345678901234567890, "neg": -9007199254740993,
	              "f": 1.5e300, "nothing": null, "list": [1, "two", null, true, {"x": []}]},
	  "token_usage": {"input_tokens": 9223372036854775807, "output_tokens": 0, "cached_tokens": 12},
	  "messages": [
	    {"role": "assistant", "content": null, "timestamp": null,
	     "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}], "n": 18446744073709551615},
	    {"role": "tool", "content": "ok", "tool_call_id": "call_1", "metadata": {"nothing": null}},
	    {"role": "user", "content": "\u00e9\ud83d\ude00 <tag> & \u2028"},
	    {"role": "user", "content": "", "timestamp": "0001-01-01T00:00:00Z"}
	  ],
	  "schema_version": 2, "tags": ["a"], "extra_null": null
	}`
	dir := t.TempDir()
	in := filepath.Join(dir, "in.json")
	require.NoError(t, os.WriteFile(in, []byte(file), 0o600))
	s, err := session.LoadFromFile(in)
	require.NoError(t, err)
	assert.Equal(t, json.Number("9223372036854775807"), s.Context()["big"])
	assert.Equal(t, 9223372036854775807, s.TokenUsage().InputTokens)

	out := filepath.Join(dir, "out.json")
	require.NoError(t, s.SaveToFile(out))
	saved, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, normalized(t, []byte(file)), normalized(t, saved))
	assert.Contains(t, string(saved), `"huge":123456789012345678901234567890`)

	// What sessions grown from it keep.
	grown := s.AddMessage("user", "more").UpdateTokenUsage(session.TokenUsage{OutputTokens: 1})
	data, err := grown.ToJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"schema_version":2`)
	assert.Contains(t, string(data), `"cached_tokens":12`)
}

func TestMissingOptionalFields(t *testing.T) {
	for _, data := range []string{
		`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`,
		`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z",
		  "messages":null,"context":null,"token_usage":null,"llm_backend":null,"name":null}`,
		`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","token_usage":{}}`,
	} {
		s, err := session.FromJSON([]byte(data))
		require.NoError(t, err, data)
		assert.Equal(t, "x", s.ID())
		assert.Equal(t, 0, s.Len())
		assert.Equal(t, map[string]any{}, s.Context())
		assert.Equal(t, session.TokenUsage{}, s.TokenUsage())
		assert.Equal(t, "", s.Backend())
		assert.Equal(t, "", s.Name())
		out, err := s.ToJSON()
		require.NoError(t, err)
		keys := []string{"context", "created_at", "id", "llm_backend", "messages", "name", "token_usage", "updated_at"}
		if !strings.Contains(data, "token_usage") {
			keys = slices.Delete(keys, 6, 7) // written as it was: missing
		}
		assert.Equal(t, keys, keysInOrder(t, out))
		assert.Equal(t, strings.Contains(data, `"token_usage":null`), strings.Contains(string(out), `"token_usage":null`))
		assert.Contains(t, string(must(s.UpdateTokenUsage(session.TokenUsage{InputTokens: 1}).ToJSON())),
			`"token_usage":{"input_tokens":1,"output_tokens":0}`, "until the usage changes")
	}
}

// TestExLLMTokenCounts loads the counts ExLLM writes when update_token_usage is given
// other numbers than whole ones: each reads as its whole part, and is written back as
// it was until the usage changes.
func TestExLLMTokenCounts(t *testing.T) {
	for _, tt := range []struct {
		file  string
		input int
		text  string
	}{{"tokens_float.json", 1, `"input_tokens":1.5`}, {"tokens_negative.json", -5, `"input_tokens":-5`}} {
		s, err := session.LoadFromFile(filepath.Join(fixtures, tt.file))
		require.NoError(t, err)
		assert.Equal(t, session.TokenUsage{InputTokens: tt.input, OutputTokens: 2}, s.TokenUsage())
		assert.Equal(t, max(tt.input, 0)+2, s.TotalTokens(), "Total counts a negative count as zero")
		assert.InDelta(t, float64(max(tt.input, 0)+2*2)/1e6, s.TokenUsage().Cost(session.Price{Input: 1, Output: 2}), 1e-12)
		assert.Contains(t, string(must(s.ToJSON())), tt.text)
		assert.Contains(t, string(must(s.AddMessage("user", "hi").ToJSON())), tt.text, "other changes keep it")
		changed := s.UpdateTokenUsage(session.TokenUsage{InputTokens: 10})
		assert.Contains(t, string(must(changed.ToJSON())), fmt.Sprintf(`"input_tokens":%d`, tt.input+10))
		assert.False(t, changed.Equal(s))
	}
	dup, err := session.LoadFromFile(filepath.Join(fixtures, "context_duplicate_key.json"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": json.Number("1")}, dup.Context(), "the first value, as ExLLM reads it")
}

func TestBadInput(t *testing.T) {
	const times = `"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"`
	msg := func(m string) string {
		return `{"id":"x",` + times + `,"messages":[{"role":"user","content":"a"},` + m + `]}`
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var timeErr *time.ParseError
	tests := []struct {
		name  string
		input string
		want  string // in the error message
		as    any    // a pointer to an error type that errors.As must find, or nil
	}{
		{"empty input", ``, "unexpected end of JSON input", &syntaxErr},
		{"malformed", `{"id": "x",, }`, "offset 12: invalid character ','", &syntaxErr},
		{"truncated", `{"id":"x"`, "unexpected end", &syntaxErr},
		{"trailing data", `{"id":"x",` + times + `} x`, "after top-level value", &syntaxErr},
		{"too deep", strings.Repeat("[", 20000), "exceeded max depth", &syntaxErr},
		{"not an object", `[1,2]`, "cannot unmarshal array into Go value of type session.Session", &typeErr},
		{"null", `null`, "cannot unmarshal null", &typeErr},
		{"missing id", `{` + times + `}`, "session: id: missing", nil},
		{"empty id", `{"id":"",` + times + `}`, "session: id: must not be empty", nil},
		{"id not a string", `{"id":7,` + times + `}`, "session: id: json: cannot unmarshal number", &typeErr},
		{"missing created_at", `{"id":"x","updated_at":"2026-01-01T00:00:00Z"}`, "session: created_at: missing", nil},
		{"missing updated_at", `{"id":"x","created_at":"2026-01-01T00:00:00Z"}`, "session: updated_at: missing", nil},
		{"bad created_at", `{"id":"x","created_at":"yesterday","updated_at":"2026-01-01T00:00:00Z"}`, `session: created_at: parsing time "yesterday"`, &timeErr},
		{"null updated_at", `{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":null}`, "session: updated_at: json: cannot unmarshal null", &typeErr},
		{"backend not a string", `{"id":"x",` + times + `,"llm_backend":1}`, "session: llm_backend: json: cannot unmarshal number", &typeErr},
		{"name not a string", `{"id":"x",` + times + `,"name":["a"]}`, "session: name: json: cannot unmarshal array", &typeErr},
		{"messages not a list", `{"id":"x",` + times + `,"messages":{}}`, "session: messages: json: cannot unmarshal object", &typeErr},
		{"message not an object", msg(`"hi"`), "session: messages[1]: json: cannot unmarshal string", &typeErr},
		{"role not a string", msg(`{"role":1,"content":"a"}`), "session: messages[1].role: json: cannot unmarshal number", &typeErr},
		{"role null", msg(`{"role":null,"content":"a"}`), "session: messages[1].role: json: cannot unmarshal null", &typeErr},
		{"role missing", msg(`{"content":"a"}`), "session: messages[1].role: missing", nil},
		{"content missing", msg(`{"role":"user"}`), "session: messages[1].content: missing", nil},
		{"null message", msg(`null`), "session: messages[1]: json: cannot unmarshal null", &typeErr},
		{"bad updated_at", `{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-13-01T00:00:00Z"}`, "session: updated_at: parsing time", &timeErr},
		{"created_at not a string", `{"id":"x","created_at":1700000000,"updated_at":"2026-01-01T00:00:00Z"}`, "session: created_at: json: cannot unmarshal number", &typeErr},
		{"truncated after a key", `{"messages":`, "unexpected end", &syntaxErr},
		{"truncated after id", `{"id":`, "unexpected end", &syntaxErr},
		{"truncated after an empty id", `{"id":""`, "unexpected end", &syntaxErr},
		{"truncated after a bad time", `{"id":"x","created_at":"bad"`, "unexpected end", &syntaxErr},
		{"wrong type, then malformed", `{"id":7,` + times + `,}`, "invalid character '}'", &syntaxErr},
		{"malformed inside a message", msg(`{"role":"user","content":"a","x":tru}`), "invalid character", &syntaxErr},
		{"token_usage not an object", `{"id":"x",` + times + `,"token_usage":5}`, "session: token_usage: json: cannot unmarshal number", &typeErr},
		{"too many tokens", `{"id":"x",` + times + `,"token_usage":{"output_tokens":99999999999999999999}}`, "session: token_usage.output_tokens: token count 99999999999999999999 is out of range", nil},
		{"tokens ExLLM cannot read", `{"id":"x",` + times + `,"token_usage":{"output_tokens":1e400}}`, "token count 1e400 is out of range", nil},
		{"tokens as a string", `{"id":"x",` + times + `,"token_usage":{"input_tokens":"3"}}`, "session: token_usage.input_tokens: json: cannot unmarshal string", &typeErr},
		{"reasoning tokens as a string", `{"id":"x",` + times + `,"token_usage":{"reasoning_tokens":"3"}}`, "session: token_usage.reasoning_tokens: json: cannot unmarshal string", &typeErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := session.FromJSON([]byte(tt.input))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "session: "), err.Error())
			assert.Contains(t, err.Error(), tt.want)
			if tt.as != nil {
				assert.True(t, errors.As(err, tt.as), "%v does not wrap %T", err, tt.as)
			}
			assert.True(t, s.Equal(session.Session{}), "a failed decode returns the zero Session")
		})
	}
	// The offset is the one encoding/json reports.
	for _, input := range []string{`{"id": "x",, }`, `{"id":"x","messages":[{"role":"user","content":"a\x"}]}`, "{\"id\":\"x\nbroken\"}"} {
		_, err := session.FromJSON([]byte(input))
		require.True(t, errors.As(err, &syntaxErr), "%q: %v", input, err)
		var v any
		var want *json.SyntaxError
		require.True(t, errors.As(json.Unmarshal([]byte(input), &v), &want))
		assert.Equal(t, want.Offset, syntaxErr.Offset, input)
		assert.Contains(t, err.Error(), fmt.Sprintf("offset %d: ", want.Offset))
	}
}

func TestLoadFromFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	_, err := session.LoadFromFile(missing)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), missing)
	assert.True(t, strings.HasPrefix(err.Error(), "session: "))

	corrupt := filepath.Join(dir, "corrupt.json")
	require.NoError(t, os.WriteFile(corrupt, []byte(`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[{"role":"user","content":7}],"name":1}`), 0o600))
	_, err = session.LoadFromFile(corrupt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "session: load "+corrupt+": name: json: cannot unmarshal number")

	_, err = session.LoadFromFile(dir)
	assert.ErrorContains(t, err, dir)
}

// randomValue returns a random value of the types FromJSON makes.
func randomValue(r *rand.Rand, depth int) any {
	switch r.IntN(7) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return json.Number(strconv.FormatInt(r.Int64()-r.Int64(), 10))
	case 3:
		return json.Number(strconv.FormatFloat(r.NormFloat64()*1e6, 'g', -1, 64))
	case 4:
		if depth < 3 {
			m := map[string]any{}
			for range r.IntN(4) {
				m[randomString(r)] = randomValue(r, depth+1)
			}
			return m
		}
	case 5:
		if depth < 3 {
			a := []any{}
			for range r.IntN(4) {
				a = append(a, randomValue(r, depth+1))
			}
			return a
		}
	}
	return randomString(r)
}

// randomString returns a valid UTF-8 string with characters that need escaping.
func randomString(r *rand.Rand) string {
	const alphabet = "aZ09 \"\\/\n\t\x00\x1f<>&é€😀\u2028\u2029\ufffd"
	runes := []rune(alphabet)
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	return b.String()
}

// randomSession builds a session from a seed, with random messages, extra fields,
// timestamps at nanosecond precision, context and usage.
func randomSession(seed uint64) session.Session {
	r := rand.New(rand.NewPCG(seed, 2))
	s := session.New(randomString(r), session.WithName(randomString(r)))
	ctx := map[string]any{}
	for range r.IntN(5) {
		ctx[randomString(r)] = randomValue(r, 0)
	}
	s = s.SetContext(ctx)
	for range r.IntN(20) {
		var opts []session.MessageOption
		switch r.IntN(3) {
		case 0:
			opts = append(opts, session.WithTimestamp(time.Unix(r.Int64N(1<<35), r.Int64N(1e9))))
		case 1:
			opts = append(opts, session.WithTimestamp(time.Time{}))
		}
		for range r.IntN(3) {
			opts = append(opts, session.WithExtra(randomString(r), randomValue(r, 0)))
		}
		switch r.IntN(4) {
		case 0:
			opts = append(opts, session.WithParts(map[string]any{"type": "text", "text": randomString(r)},
				map[string]any{"type": randomString(r), "v": randomValue(r, 1)}))
		case 1:
			type call struct {
				ID   string            `json:"id"`
				Args map[string]string `json:"args,omitempty"`
				N    float32           `json:"n"`
			}
			opts = append(opts, session.WithExtra("tool_calls", []call{{ID: randomString(r), Args: map[string]string{"k": randomString(r)}, N: r.Float32()}}))
		case 2:
			opts = append(opts, session.WithUsage(session.TokenUsage{InputTokens: r.IntN(1000), OutputTokens: r.IntN(1000),
				CacheReadTokens: r.IntN(2) * r.IntN(1000), CacheWriteTokens: r.IntN(2) * r.IntN(1000), ReasoningTokens: r.IntN(2) * r.IntN(1000)}))
		}
		s = s.AddMessage(randomString(r), randomString(r), opts...)
	}
	return s.UpdateTokenUsage(session.TokenUsage{InputTokens: r.IntN(1 << 40), OutputTokens: r.IntN(1 << 40),
		CacheReadTokens: r.IntN(1 << 40), CacheWriteTokens: r.IntN(2), ReasoningTokens: r.IntN(1 << 40)})
}

// randomTime returns a random timestamp in one of the forms ExLLM reads or writes, or
// a value that is no time.
func randomTime(r *rand.Rand) string {
	if r.IntN(8) == 0 {
		return randomString(r)
	}
	return randomTimeForm(r)
}

// randomTimeForm returns a random time in one of the forms ExLLM reads or writes.
func randomTimeForm(r *rand.Rand) string {
	t := time.Unix(r.Int64N(1<<35), r.Int64N(1e9)).UTC()
	forms := []string{
		"2006-01-02T15:04:05.000000Z07:00", time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.999Z07:00",
		"2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05", "2006-01-02", "2006-01-02T15:04:05,000Z07:00",
	}
	zone := time.FixedZone("", (r.IntN(48)-24)*1800)
	return t.In(zone).Format(forms[r.IntN(len(forms))])
}

// randomFile returns a session file with every kind of value FromJSON keeps: parts and
// other contents, every timestamp form, usage fields, unknown keys and nulls.
func randomFile(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 5))
	doc := map[string]any{"id": randomString(r) + "x", "created_at": randomTimeForm(r), "updated_at": randomTimeForm(r)}
	switch r.IntN(3) {
	case 0:
		doc["context"] = randomValue(r, 0)
	case 1:
		doc["context"] = map[string]any{randomString(r): randomValue(r, 1)}
	}
	usage := map[string]any{}
	for _, k := range []string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", randomString(r) + "_x"} {
		if r.IntN(2) == 0 {
			usage[k] = r.IntN(3) * r.IntN(1<<40)
		}
	}
	doc["token_usage"] = usage
	var msgs []any
	for range r.IntN(8) {
		m := map[string]any{"role": randomString(r)}
		switch r.IntN(4) {
		case 0:
			m["content"] = randomString(r)
		case 1:
			m["content"] = []any{map[string]any{"type": "text", "text": randomString(r)}, map[string]any{"type": "image_url", "image_url": randomValue(r, 2)}}
		default:
			m["content"] = randomValue(r, 1)
		}
		if r.IntN(4) > 0 {
			m["timestamp"] = randomTime(r)
		}
		if r.IntN(3) == 0 {
			m["token_usage"] = map[string]any{"input_tokens": r.IntN(100), "output_tokens": 1 + r.IntN(100), "reasoning_tokens": r.IntN(2)}
		}
		m[randomString(r)] = randomValue(r, 1)
		msgs = append(msgs, m)
	}
	doc["messages"] = msgs
	doc["extra_"+randomString(r)] = randomValue(r, 0)
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return data
}

func TestRoundTripOfFiles(t *testing.T) {
	for seed := range uint64(500) {
		data := randomFile(seed)
		if _, err := session.FromJSON(data); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		differential(t, data)
	}
}

func TestRoundTrip(t *testing.T) {
	property := func(seed uint64) bool {
		s := randomSession(seed)
		data, err := s.ToJSON()
		if err != nil {
			t.Log(err)
			return false
		}
		back, err := session.FromJSON(data)
		if err != nil {
			t.Log(err)
			return false
		}
		again, err := back.ToJSON()
		return err == nil && back.Equal(s) && bytes.Equal(data, again) &&
			reflect.DeepEqual(back.GetMessages(0), s.GetMessages(0)) && json.Valid(data)
	}
	require.NoError(t, quick.Check(property, &quick.Config{MaxCount: 300}))
}

func TestEncodeErrors(t *testing.T) {
	s := session.New("").AddMessage("user", "a").AddMessage("user", "b", session.WithExtra("bad", make(chan int)))
	_, err := s.ToJSON()
	assert.ErrorContains(t, err, "session: messages[1].bad: json: unsupported type: chan int")
	err = s.SaveToFile(filepath.Join(t.TempDir(), "x.json"))
	assert.ErrorContains(t, err, "messages[1].bad")

	_, err = session.New("").SetContext(map[string]any{"n": json.Number("1x")}).ToJSON()
	assert.ErrorContains(t, err, `session: context.n: json: invalid number literal "1x"`)

	cyclic := map[string]any{"a": 1}
	cyclic["self"] = map[string]any{"list": []any{cyclic}}
	_, err = session.New("").SetContext(map[string]any{"deep": cyclic}).ToJSON()
	assert.ErrorContains(t, err, "session: context.deep.self.list[0].self.list[0].self")
	assert.ErrorContains(t, err, "encountered a cycle")
	_, err = session.New("").AddMessage("user", "x", session.WithExtra("meta", cyclic)).ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].meta.self")
	list := []any{1, nil}
	list[1] = list
	_, err = session.New("").AddMessage("user", "x", session.WithParts(map[string]any{"l": list})).ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].content[0].l[1][1]")
	_, err = session.New("").AddMessage("user", "x", session.WithExtra("nan", math.NaN())).ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].nan: json: unsupported value: NaN")

	fixed := session.New("").SetContext(map[string]any{"bad": math.Inf(1)}).SetContext(map[string]any{"good": 1})
	_, err = fixed.ToJSON()
	assert.NoError(t, err, "a new context replaces the bad one")
	_, err = session.New("").AddMessage("user", "x", session.WithExtra("f", func() {})).Truncate(0).ToJSON()
	assert.NoError(t, err, "a bad message gone is no error")

	_, err = session.New("").AddMessage("user", "a", session.WithTimestamp(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))).ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].timestamp: year 10000 outside of range")
}

func TestContextValuesOfOtherTypes(t *testing.T) {
	s := session.New("").SetContext(map[string]any{
		"temperature": 0.7, "max_tokens": 1000, "tags": []string{"a", "b"}, "small": 1e-7, "time": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	data, err := s.ToJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"context":{"max_tokens":1000,"small":1e-7,"tags":["a","b"],"temperature":0.7,"time":"2026-01-02T03:04:05Z"}`)
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	assert.Equal(t, json.Number("0.7"), back.Context()["temperature"])
}

func TestSessionInsideOtherJSON(t *testing.T) {
	type chat struct {
		Session session.Session `json:"session"`
		Owner   string          `json:"owner"`
	}
	in := chat{Session: session.New("openai").AddMessage("user", "hi"), Owner: "ann"}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	var out chat
	require.NoError(t, json.Unmarshal(data, &out))
	assert.True(t, in.Session.Equal(out.Session))
	assert.Equal(t, "ann", out.Owner)

	require.NoError(t, json.Unmarshal([]byte(`{"session":null}`), &out))
	assert.True(t, out.Session.IsZero(), "null is the zero Session")
	assert.Error(t, json.Unmarshal([]byte(`{"session":{"id":""}}`), &out))

	// The zero Session is null, and a struct holding one marshals and comes back.
	data, err = json.Marshal(chat{Owner: "bo"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"session":null,"owner":"bo"}`, string(data))
	out = chat{Session: session.New("x")}
	require.NoError(t, json.Unmarshal(data, &out))
	assert.True(t, out.Session.IsZero())
}

// TestTokenUsageJSON: encoding/json writes TokenUsage with the names of a session
// file's token_usage, and reads them back.
func TestTokenUsageJSON(t *testing.T) {
	for _, tt := range []struct {
		u    session.TokenUsage
		want string
	}{
		{session.TokenUsage{}, `{"input_tokens":0,"output_tokens":0}`},
		{session.TokenUsage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 3, CacheWriteTokens: 2, ReasoningTokens: 1},
			`{"input_tokens":10,"output_tokens":5,"cache_read_tokens":3,"cache_write_tokens":2,"reasoning_tokens":1}`},
	} {
		data, err := json.Marshal(tt.u)
		require.NoError(t, err)
		assert.JSONEq(t, tt.want, string(data))
		var back session.TokenUsage
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, tt.u, back)
		// The names a file holds.
		s, err := session.FromJSON([]byte(`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","token_usage":` + string(data) + `}`))
		require.NoError(t, err)
		assert.Equal(t, tt.u, s.TokenUsage())
	}
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Mode().Perm()
}

// dirNames lists a directory, to check that no temporary file was left in it.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveToFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chat.json")
	s := session.New("openai").AddMessage("user", "Hello!")

	require.NoError(t, s.SaveToFile(path))
	assert.Equal(t, fs.FileMode(0o600), fileMode(t, path), "a new file is private")
	loaded, err := session.LoadFromFile(path)
	require.NoError(t, err)
	assert.True(t, s.Equal(loaded))

	require.NoError(t, os.Chmod(path, 0o640))
	s2 := s.AddMessage("assistant", "Hi there!")
	require.NoError(t, s2.SaveToFile(path))
	assert.Equal(t, fs.FileMode(0o640), fileMode(t, path), "an existing file keeps its mode")
	loaded, err = session.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, 2, loaded.Len())
	assert.Equal(t, []string{"chat.json"}, dirNames(t, dir))

	// Through a symbolic link, the file it points to is saved.
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink("chat.json", link))
	require.NoError(t, s.SaveToFile(link))
	target, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, "chat.json", target)
	loaded, err = session.LoadFromFile(path)
	require.NoError(t, err)
	assert.Equal(t, 1, loaded.Len())

	// A relative path in the working directory.
	t.Chdir(dir)
	require.NoError(t, s2.SaveToFile("relative.json"))
	loaded, err = session.LoadFromFile("relative.json")
	require.NoError(t, err)
	assert.Equal(t, 2, loaded.Len())
}

func TestSaveToFileFailures(t *testing.T) {
	s := session.New("openai").AddMessage("user", "Hello!")
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.json")
	require.NoError(t, os.WriteFile(existing, []byte("old"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))

	tests := []struct {
		name string
		path string
	}{
		{"missing directory", filepath.Join(dir, "nowhere", "chat.json")},
		{"target is a directory", filepath.Join(dir, "sub")},
		{"parent is a file", filepath.Join(existing, "chat.json")},
		{"zero session", existing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := s
			if tt.name == "zero session" {
				s = session.Session{}
			}
			err := s.SaveToFile(tt.path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "session: save "+tt.path)
			assert.ElementsMatch(t, []string{"existing.json", "sub"}, dirNames(t, dir))
			old, err := os.ReadFile(existing)
			require.NoError(t, err)
			assert.Equal(t, "old", string(old))
		})
	}

	t.Run("no permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may write anywhere")
		}
		locked := filepath.Join(t.TempDir(), "locked")
		require.NoError(t, os.Mkdir(locked, 0o500))
		err := s.SaveToFile(filepath.Join(locked, "chat.json"))
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrPermission)
		assert.Contains(t, err.Error(), locked)
		assert.Empty(t, dirNames(t, locked))
	})
}

// The kill test runs this file's test binary again as a child that saves in a loop.
const saveLoopEnv = "SESSION_TEST_SAVE_LOOP"

// TestSaveLoopChild is the child of TestSaveSurvivesKill: it saves ever longer sessions
// to the file named by $SESSION_TEST_SAVE_LOOP until it is killed.
func TestSaveLoopChild(t *testing.T) {
	path := os.Getenv(saveLoopEnv)
	if path == "" {
		t.Skip("runs only as the child of TestSaveSurvivesKill")
	}
	s := session.New("openai")
	for i := 0; ; i++ {
		s = s.AddMessage("user", fmt.Sprintf("%d %s", i, strings.Repeat("x", 2000)))
		if err := s.SaveToFile(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// TestSaveSurvivesKill kills a process that saves in a loop at random moments, with
// SIGKILL, and checks that the file always loads whole. A temporary file may be left
// only by a kill in the instant between naming it and renaming it; the next save
// removes it.
func TestSaveSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "chat.json")
	require.NoError(t, session.New("openai").AddMessage("user", "seed").SaveToFile(path))
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	const kills = 25
	lengths := map[int]bool{}
	leftovers := 0
	for range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveLoopChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), saveLoopEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(20+r.IntN(80)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		require.Error(t, err, "the child stopped by itself: %s", stderr.String())

		s, err := session.LoadFromFile(path)
		require.NoError(t, err, "the file must load after every kill")
		msgs := s.GetMessages(0)
		if len(msgs) != 1 || msgs[0].Content != "seed" {
			for i, m := range msgs {
				require.True(t, strings.HasPrefix(m.Content, fmt.Sprintf("%d ", i)), "message %d of %d is torn", i, len(msgs))
			}
		}
		lengths[len(msgs)] = true

		// Only the child just killed may have left a temporary file: the saves of each
		// child remove those of the children before it.
		left := 0
		for _, name := range dirNames(t, dir) {
			if name != "chat.json" {
				require.True(t, strings.HasPrefix(name, ".chat.json.tmp-"), "another file %s", name)
				left++
			}
		}
		require.LessOrEqual(t, left, 1, "stale temporary files of earlier children")
		leftovers += left
	}
	require.NoError(t, session.New("openai").SaveToFile(path))
	assert.Equal(t, []string{"chat.json"}, dirNames(t, dir), "a save removes what killed processes left")
	t.Logf("killed %d times: the file held %d different lengths; %d kills fell between naming and renaming", kills, len(lengths), leftovers)
	assert.Greater(t, len(lengths), 1, "the children never saved")
	assert.LessOrEqual(t, leftovers, kills/5, "temporary files are left far more often than the instant between link and rename explains")
}

func FuzzFromJSON(f *testing.F) {
	for _, path := range fixturePaths(f) {
		data, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[{"role":"user","content":null,"timestamp":null,"k":[1e5,{"a":"\ud800"}]}],"z":1}`))
	f.Add([]byte(`{"id":"x","token_usage":{"input_tokens":-0}}`))
	f.Add([]byte(`[[[[[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := session.FromJSON(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "session: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			var syntaxErr *json.SyntaxError
			if json.Valid(data) && (errors.As(err, &syntaxErr) || strings.Contains(err.Error(), "invalid JSON")) {
				t.Fatalf("valid JSON reported as malformed: %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		out, err := s.ToJSON()
		if err != nil {
			t.Fatalf("accepted but cannot encode: %v", err)
		}
		back, err := session.FromJSON(out)
		if err != nil {
			t.Fatalf("cannot decode own output %q: %v", out, err)
		}
		if !back.Equal(s) {
			t.Fatalf("round trip changed the session:\n%s", out)
		}
		again, err := back.ToJSON()
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, again)
		}
	})
}

func TestAppendJSON(t *testing.T) {
	s := session.New("openai").AddMessage("user", "Hello!")
	want, err := s.ToJSON()
	require.NoError(t, err)
	got, err := s.AppendJSON([]byte("prefix:"))
	require.NoError(t, err)
	assert.Equal(t, "prefix:"+string(want), string(got))

	bad := s.AddMessage("user", "x", session.WithExtra("f", func() {}))
	got, err = bad.AppendJSON([]byte("prefix:"))
	assert.ErrorContains(t, err, "session: messages[1].f")
	assert.Equal(t, "prefix:", string(got), "on error the buffer is returned as it was")
}
