package session_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// file returns a session file holding one message, given as JSON.
func file(message string) string {
	return `{"context":{},"created_at":"2026-01-01T00:00:00.000000Z","id":"x","llm_backend":null,"messages":[` +
		message + `],"name":null,"token_usage":{"input_tokens":0,"output_tokens":0},"updated_at":"2026-01-01T00:00:00.000000Z"}`
}

// reencoded loads data and returns the session and what ToJSON writes for it.
func reencoded(t *testing.T, data string) (session.Session, string) {
	t.Helper()
	s, err := session.FromJSON([]byte(data))
	require.NoError(t, err)
	out, err := s.ToJSON()
	require.NoError(t, err)
	return s, string(out)
}

func TestContentOfAnyJSONValue(t *testing.T) {
	parts := []map[string]any{
		{"type": "text", "text": "What is this?"},
		{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/cat.png", "detail": "low"}},
		{"type": "text", "text": "A cat?"},
	}
	tests := []struct {
		name    string
		content string
		text    string
		parts   []map[string]any
	}{
		{"string", `"hi"`, "hi", nil},
		{"empty string", `""`, "", nil},
		{"null", `null`, "", nil},
		{"parts", `[{"text":"What is this?","type":"text"},{"image_url":{"detail":"low","url":"https://example.com/cat.png"},"type":"image_url"},{"text":"A cat?","type":"text"}]`,
			"What is this?\nA cat?", parts},
		{"no parts", `[]`, "", []map[string]any{}},
		{"Anthropic blocks", `[{"id":"toolu_1","input":{},"name":"f","type":"tool_use"}]`, "", []map[string]any{{"id": "toolu_1", "input": map[string]any{}, "name": "f", "type": "tool_use"}}},
		{"object", `{"text":"hi","type":"text"}`, "", nil},
		{"number", `42`, "", nil},
		{"big number", `123456789012345678901234567890`, "", nil},
		{"bool", `true`, "", nil},
		{"list of other values", `["a",1,null]`, "", nil},
		{"list with one non-object", `[{"type":"text","text":"a"},"b"]`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := file(`{"content":` + tt.content + `,"role":"user","timestamp":"2026-01-01T00:00:00.000000Z"}`)
			s, out := reencoded(t, in)
			if !strings.HasPrefix(tt.content, `[{"type":"text","text":"a"}`) {
				assert.Equal(t, in, out, "written back as read")
			} else {
				assert.JSONEq(t, in, out)
			}
			m := s.GetMessages(1)[0]
			assert.Equal(t, tt.text, m.Content)
			assert.Equal(t, tt.parts, m.Parts)

			again, err := session.FromJSON([]byte(out))
			require.NoError(t, err)
			assert.True(t, again.Equal(s))
		})
	}
}

func TestWithParts(t *testing.T) {
	type imageURL struct {
		URL string `json:"url"`
	}
	s := session.New("openai").AddMessage("user", "ignored", session.WithParts(
		map[string]any{"type": "text", "text": "one"},
		map[string]any{"type": "image_url", "image_url": imageURL{URL: "u"}},
		map[string]any{"type": "text", "text": "two"},
	))
	m := s.GetMessages(1)[0]
	assert.Equal(t, "one\ntwo", m.Content)
	assert.Equal(t, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "u"}}, m.Parts[1], "stored as JSON values")

	data, err := m.MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"content":[{"text":"one","type":"text"},{"image_url":{"url":"u"},"type":"image_url"},{"text":"two","type":"text"}]`)
	var back session.Message
	require.NoError(t, json.Unmarshal(data, &back))
	assert.True(t, back.Equal(m))

	m.Parts[0]["text"] = "changed"
	assert.Equal(t, "one", s.GetMessages(1)[0].Parts[0]["text"], "parts handed out are copies")

	_, err = session.New("").AddMessage("user", "", session.WithParts(nil)).ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].content[0]: a part must not be nil")

	empty := session.New("").AddMessage("user", "", session.WithParts())
	data, err = empty.GetMessages(1)[0].MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"content":[]`)
}

func TestMessageJSON(t *testing.T) {
	var m session.Message
	err := json.Unmarshal([]byte(`{"role":"user","content":"hi","timestamp":"2024-01-01","token_usage":{"input_tokens":1,"output_tokens":2},"x":[1]}`), &m)
	require.NoError(t, err)
	assert.Equal(t, "user", m.Role)
	assert.Equal(t, session.TokenUsage{InputTokens: 1, OutputTokens: 2}, m.Usage())
	assert.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), m.Timestamp)
	data, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Equal(t, `{"content":"hi","role":"user","timestamp":"2024-01-01","token_usage":{"input_tokens":1,"output_tokens":2},"x":[1]}`, string(data))

	for _, bad := range []string{`{"role":"user"}`, `{"role":1,"content":""}`, `{"role":"user","content":""`, `[]`, `{"role":"user","content":""} x`} {
		err := m.UnmarshalJSON([]byte(bad))
		assert.ErrorContains(t, err, "session: message", bad)
	}
}

func TestTimestampForms(t *testing.T) {
	tests := []struct {
		name, json string
		want       time.Time // zero: none
	}{
		{"as written", `"2024-01-02T03:04:05.123456Z"`, time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"fewer digits", `"2024-01-02T03:04:05.12Z"`, time.Date(2024, 1, 2, 3, 4, 5, 120000000, time.UTC)},
		{"no fraction", `"2024-01-02T03:04:05Z"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"nanoseconds", `"2024-01-02T03:04:05.123456789Z"`, time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"offset with colon", `"2024-01-02T05:04:05+02:00"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"offset without colon", `"2024-01-02T05:04:05+0200"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"offset in hours", `"2024-01-02T01:04:05-02"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"space for T", `"2024-01-02 03:04:05Z"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"comma for the point", `"2024-01-02T03:04:05,5Z"`, time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{"naive", `"2024-01-02T03:04:05"`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"naive with space and fraction", `"2024-01-02 03:04:05.25"`, time.Date(2024, 1, 2, 3, 4, 5, 250000000, time.UTC)},
		{"date", `"2024-01-02"`, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"escaped", `"2024-01-02T03:04:05\u002e5Z"`, time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{"year 0 an hour east", `"0000-01-01T00:00:00+01:00"`, time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC)},
		{"year 9999 a minute west", `"9999-12-31T23:59:59-00:01"`, time.Date(10000, 1, 1, 0, 0, 59, 0, time.UTC)},
		{"zero time", `"0001-01-01T00:00:00Z"`, time.Time{}},
		{"no time at all", `"yesterday"`, time.Time{}},
		{"a month 13", `"2026-13-01T00:00:00Z"`, time.Time{}},
		{"30 February, as written", `"2026-02-30T00:00:00.000000Z"`, time.Time{}},
		{"hour 24, as written", `"2026-01-01T24:00:00.000000Z"`, time.Time{}},
		{"leap day, as written", `"2024-02-29T23:59:59.999999Z"`, time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC)},
		{"a number", `1700000000`, time.Time{}},
		{"null", `null`, time.Time{}},
		{"an object", `{"unix":1}`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := file(`{"content":"a","role":"user","timestamp":` + tt.json + `}`)
			s, out := reencoded(t, in)
			if tt.name != "escaped" {
				assert.Equal(t, in, out, "written back as read")
			}
			assert.True(t, tt.want.Equal(s.GetMessages(1)[0].Timestamp), "got %v", s.GetMessages(1)[0].Timestamp)

			again, err := session.FromJSON([]byte(out))
			require.NoError(t, err)
			assert.True(t, again.Equal(s))

			// The created_at and updated_at of a session are required times: the same
			// forms load, and are written back as read, until the session changes.
			if !tt.want.IsZero() {
				top := strings.Replace(in, `"created_at":"2026-01-01T00:00:00.000000Z"`, `"created_at":`+tt.json, 1)
				s, out := reencoded(t, top)
				if tt.name != "escaped" {
					assert.Equal(t, top, out)
				}
				assert.True(t, tt.want.Equal(s.CreatedAt()))
				changed, err := s.SetName("n").ToJSON()
				require.NoError(t, err, "a session that loads must save after a change")
				created, _, _ := strings.Cut(strings.TrimPrefix(out, `{"context":{},`), `,"id"`)
				assert.Contains(t, string(changed), created)
			}
		})
	}
}

func TestNewTimestampsAsExLLMWritesThem(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 120_000_999, time.FixedZone("x", 3600))
	s := session.New("").AddMessage("user", "a", session.WithTimestamp(at))
	data, err := s.ToJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"timestamp":"2026-01-02T02:04:05.120000Z"`)
	assert.Equal(t, 0, s.UpdatedAt().Nanosecond()%1000, "microseconds, as ExLLM's DateTime.utc_now()")
}

// TestTypedValuesAreJSONValues checks that values of a caller's types are stored as the
// JSON values a reload gives: Window, Equal and copies see them the same.
func TestTypedValuesAreJSONValues(t *testing.T) {
	type function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type toolCall struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	calls := []toolCall{
		{ID: "c1", Type: "function", Function: function{Name: "weather", Arguments: `{"city":"Oslo"}`}},
		{ID: "c2", Type: "function", Function: function{Name: "weather", Arguments: `{"city":"Rome"}`}},
	}
	s := session.New("openai").
		AddMessage("system", "Be brief.").
		AddMessage("user", "Weather in Oslo and Rome?").
		AddMessage("assistant", "", session.WithExtra("tool_calls", calls)).
		AddMessage("tool", "-3", session.WithExtra("tool_call_id", "c1")).
		AddMessage("tool", "18", session.WithExtra("tool_call_id", "c2")).
		AddMessage("assistant", "Cold in Oslo, warm in Rome.").
		AddMessage("user", "Thanks!")
	assert.Len(t, s.Window(10000, nil), 7)

	data, err := s.ToJSON()
	require.NoError(t, err)
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	assert.True(t, back.Equal(s), "Equal after a round trip")
	assert.Equal(t, s.Window(10000, nil), back.Window(10000, nil))

	// A struct that holds a map and a slice: nothing done to it afterwards, nor to what
	// the session hands out, changes the session.
	type call struct {
		Args map[string]any `json:"args"`
		Tags []string       `json:"tags"`
	}
	c := call{Args: map[string]any{"city": "Oslo"}, Tags: []string{"a"}}
	s = session.New("").AddMessage("assistant", "", session.WithExtra("call", c))
	c.Args["city"] = "changed"
	c.Tags[0] = "changed"
	got := s.GetMessages(1)[0].Extra["call"].(map[string]any)
	got["args"].(map[string]any)["city"] = "changed too"
	want := map[string]any{"args": map[string]any{"city": "Oslo"}, "tags": []any{"a"}}
	assert.Equal(t, want, s.GetMessages(1)[0].Extra["call"])

	// Numbers of every type are json.Number, as a reload gives them.
	s = session.New("").SetContext(map[string]any{"i": 1, "u8": uint8(2), "f": 0.5, "f32": float32(1.5), "n": json.Number("")})
	assert.Equal(t, map[string]any{"i": json.Number("1"), "u8": json.Number("2"), "f": json.Number("0.5"),
		"f32": json.Number("1.5"), "n": json.Number("0")}, s.Context())
}

func TestCyclesAndDepth(t *testing.T) {
	// A cycle that starts deep: found, not a stack overflow.
	deep := map[string]any{}
	inner := deep
	for range 1500 {
		next := map[string]any{}
		inner["d"] = next
		inner = next
	}
	inner["back"] = deep
	_, err := session.New("").SetContext(map[string]any{"deep": deep}).ToJSON()
	assert.ErrorContains(t, err, "encountered a cycle via map[string]interface {}")
	assert.ErrorContains(t, err, "session: context.deep.d.d.d")

	// Deep, but no cycle: as deep as FromJSON reads, and no deeper.
	nest := func(n int) any {
		var v any = "leaf"
		for range n {
			v = []any{v}
		}
		return v
	}
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{9997, true}, {9998, false}} {
		s := session.New("").AddMessage("user", "x", session.WithExtra("deep", nest(tt.depth)))
		data, err := s.ToJSON()
		if !tt.ok {
			assert.ErrorContains(t, err, "session: messages[0].deep")
			assert.ErrorContains(t, err, "exceeded max depth")
			continue
		}
		require.NoError(t, err, "depth %d", tt.depth)
		_, err = session.FromJSON(data)
		assert.NoError(t, err, "what a session holds loads again")
	}
}

func TestEncoderMatchesEncodingJSON(t *testing.T) {
	values := map[string]any{
		"nil map":        map[string]any(nil),
		"nil slice":      []any(nil),
		"nested nil map": map[string]any{"m": map[string]any(nil)},
		"empty number":   json.Number(""),
		"controls":       "\b\f\n\r\t\x00\x1f",
		"html":           map[string]string{"h": "<a href=\"x\">&</a>"},
		"line separator": "\u2028\u2029",
		"float":          []float64{1e21, 1e-7, 0.1, -0},
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			s := session.New("").AddMessage("user", "x", session.WithExtra("v", v))
			data, err := s.GetMessages(1)[0].MarshalJSON()
			require.NoError(t, err)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(v))
			assert.Contains(t, string(data), `,"v":`+strings.TrimSpace(want.String())+`}`)

			back, err := session.FromJSON(must(s.ToJSON()))
			require.NoError(t, err)
			assert.True(t, back.Equal(s), "Equal after a round trip")
		})
	}
}

func must(data []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return data
}

func TestNullCounts(t *testing.T) {
	s, err := session.FromJSON([]byte(`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z",
		"token_usage":{"input_tokens":null,"output_tokens":3,"reasoning_tokens":null}}`))
	require.NoError(t, err)
	assert.Equal(t, session.TokenUsage{OutputTokens: 3}, s.TokenUsage())
	assert.Contains(t, string(must(s.ToJSON())), `"token_usage":{"input_tokens":0,"output_tokens":3,"reasoning_tokens":0}`)
}

func TestExLLMFilesWithOtherForms(t *testing.T) {
	list, err := session.LoadFromFile(filepath.Join(fixtures, "content_list.json"))
	require.NoError(t, err)
	m := list.GetMessages(1)[0]
	assert.Equal(t, "hi", m.Content)
	assert.Equal(t, "image_url", m.Parts[1]["type"])

	ctx, err := session.LoadFromFile(filepath.Join(fixtures, "context_list.json"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{}, ctx.Context(), "a context that is not an object reads as empty")
	assert.Contains(t, string(must(ctx.ToJSON())), `"context":[1,2,3]`)
	assert.Contains(t, string(must(ctx.SetName("n").ToJSON())), `"context":[1,2,3]`, "and stays until replaced")
	assert.Contains(t, string(must(ctx.SetContext(map[string]any{"a": 1}).ToJSON())), `"context":{"a":1}`)

	naive, err := session.LoadFromFile(filepath.Join(fixtures, "timestamp_naive.json"))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), naive.GetMessages(1)[0].Timestamp)
}
