package session_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

func TestIsZero(t *testing.T) {
	assert.True(t, session.Session{}.IsZero())
	assert.False(t, session.New("").IsZero())
	s, err := session.FromJSON(must(session.New("").ToJSON()))
	require.NoError(t, err)
	assert.False(t, s.IsZero())
}

func TestErrReportsWhereTheValueComesIn(t *testing.T) {
	s := session.New("openai").AddMessage("user", "hi")
	assert.NoError(t, s.Err())
	assert.ErrorContains(t, session.Session{}.Err(), "session: id: empty")

	bad := s.SetContext(map[string]any{"f": func() {}})
	assert.ErrorContains(t, bad.Err(), "session: context.f")
	assert.NoError(t, bad.SetContext(nil).Err(), "replaced")

	bad = s.AddMessage("user", "x", session.WithExtra("ch", make(chan int)))
	assert.ErrorContains(t, bad.Err(), "session: messages[1].ch")
	assert.NoError(t, bad.Truncate(1).Err(), "cut off")

	bad = s.AddMessage("user", "x", session.WithParts(map[string]any{"n": math.NaN()}))
	assert.ErrorContains(t, bad.Err(), "session: messages[1].content[0].n")
	_, err := bad.ToJSON()
	assert.Equal(t, bad.Err().Error(), err.Error(), "what ToJSON reports")
}

func TestReadingOneMessage(t *testing.T) {
	s := session.New("").AddMessage("system", "Be brief.").AddMessage("user", "hi", session.WithExtra("m", map[string]any{"k": "v"}))
	assert.Equal(t, "Be brief.", s.MessageAt(0).Content)
	m := s.MessageAt(1)
	m.Extra["m"].(map[string]any)["k"] = "changed"
	assert.Equal(t, "v", s.MessageAt(1).Extra["m"].(map[string]any)["k"], "a copy")
	assert.Panics(t, func() { s.MessageAt(2) })
	assert.Panics(t, func() { s.MessageAt(-1) })

	last, ok := s.LastMessage()
	assert.True(t, ok)
	assert.Equal(t, "hi", last.Content)
	_, ok = session.New("").LastMessage()
	assert.False(t, ok)

	var seen []int
	for i, m := range s.Backward() {
		seen = append(seen, i)
		assert.Equal(t, s.MessageAt(i).Content, m.Content)
	}
	assert.Equal(t, []int{1, 0}, seen)
	for i := range s.Backward() {
		assert.Equal(t, 1, i, "stops when the loop does")
		break
	}
}

func TestAppendMessages(t *testing.T) {
	oslo := time.FixedZone("Oslo", 3600)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6789, oslo)
	src := session.New("openai").
		AddMessage("user", "What time is it?", session.WithTimestamp(at)).
		AddMessage("assistant", "", session.WithExtra("tool_calls", []any{map[string]any{"id": "c1"}}),
			session.WithUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 2}))
	fork := session.New("openai").AppendMessages(src.GetMessages(0)...)
	require.Equal(t, 2, fork.Len())
	for i := range 2 {
		assert.True(t, fork.MessageAt(i).Equal(src.MessageAt(i)), "message %d", i)
	}
	assert.Equal(t, src.TokenUsage(), fork.TokenUsage(), "usage on the messages is added")
	assert.Equal(t, time.UTC, fork.MessageAt(0).Timestamp.Location())

	extra := map[string]any{"role": "system", "content": "x", "meta": map[string]any{"k": 1}}
	byHand := session.Message{Role: "user", Content: "ignored", Timestamp: at, Extra: extra,
		Parts: []map[string]any{{"type": "text", "text": "hello"}}}
	s := session.New("").AppendMessages(byHand)
	extra["meta"].(map[string]any)["k"] = 2
	m := s.MessageAt(0)
	assert.Equal(t, "hello", m.Content, "the text of the parts")
	assert.Equal(t, map[string]any{"meta": map[string]any{"k": json.Number("1")}}, m.Extra, "a JSON copy, reserved keys left out")
	assert.Equal(t, at.UTC().Truncate(time.Microsecond), m.Timestamp)
	back, err := session.FromJSON(must(s.ToJSON()))
	require.NoError(t, err)
	assert.True(t, back.Equal(s))

	bad := session.New("").AppendMessages(session.Message{Role: "user", Extra: map[string]any{"f": func() {}}})
	assert.ErrorContains(t, bad.Err(), "messages[0].f")
	assert.True(t, s.Equal(s.AppendMessages()), "nothing appended")
}

func TestMessageUnmarshalJSON(t *testing.T) {
	m := session.Message{Role: "kept"}
	require.NoError(t, m.UnmarshalJSON([]byte(" null ")))
	assert.Equal(t, "kept", m.Role, "null changes nothing")

	var msgs []session.Message
	require.NoError(t, json.Unmarshal([]byte(`[{"role":"user","content":"a"},null]`), &msgs))
	assert.Equal(t, "a", msgs[0].Content)

	for _, bad := range []string{`{"role":"user","content":"a"} x`, `{"role":"user","content":"a"}}`} {
		err := m.UnmarshalJSON([]byte(bad))
		var syntax *json.SyntaxError
		assert.ErrorAs(t, err, &syntax, bad)
	}
	err := m.UnmarshalJSON([]byte(`{"role":1,"content":"a"}`))
	assert.ErrorContains(t, err, "session: message: role")
}

func TestWithMaxSizeOfAnyValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.json")
	require.NoError(t, session.New("").AddMessage("user", "hi").SaveToFile(path))
	s, err := session.LoadFromFile(path, session.WithMaxSize(math.MaxInt64))
	require.NoError(t, err)
	assert.Equal(t, 1, s.Len())
}

// TestTimestampsMatchTime writes random instants of years 0 to 9999 as the time
// package formats them, and reads them back as the same instants.
func TestTimestampsMatchTime(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	s := session.New("")
	var want []time.Time
	for i := range 5000 {
		at := time.UnixMicro(lo + r.Int64N(hi-lo+1)).UTC()
		if i < 4 {
			at = []time.Time{time.UnixMicro(lo).UTC(), time.UnixMicro(hi).UTC(), time.Unix(0, 0).UTC(), time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC)}[i]
		}
		s = s.AddMessage("user", "x", session.WithTimestamp(at))
		want = append(want, at)
	}
	data := string(must(s.ToJSON()))
	for _, at := range want {
		require.Contains(t, data, `"timestamp":"`+at.Format("2006-01-02T15:04:05.000000Z07:00")+`"`)
	}
	back, err := session.FromJSON([]byte(data))
	require.NoError(t, err)
	for i, m := range back.GetMessages(0) {
		require.True(t, m.Timestamp.Equal(want[i]), "%v read as %v", want[i], m.Timestamp)
	}
	for _, bad := range []string{"2026-02-29T00:00:00.000000Z", "2026-13-01T00:00:00.000000Z", "2026-01-01T24:00:00.000000Z", "2026-01-01T00:00:60.000000Z"} {
		_, err := session.FromJSON([]byte(`{"id":"x","created_at":"` + bad + `","updated_at":"2026-01-01T00:00:00Z"}`))
		assert.Error(t, err, bad)
	}
}
