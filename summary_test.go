package session_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
)

func TestSummarize(t *testing.T) {
	s := grow(session.New("openai"), "m", 10)
	sum := s.Summarize(6, "the first six")
	text, through := sum.Summary()
	assert.Equal(t, "the first six", text)
	assert.Equal(t, 6, through)
	assert.Equal(t, 10, sum.Len(), "the messages stay")
	assert.True(t, sum.UpdatedAt().After(s.UpdatedAt()))
	assert.False(t, sum.Equal(s))
	d1, _ := s.Digest()
	d2, _ := sum.Digest()
	assert.NotEqual(t, d1, d2)

	_, through = s.Summarize(99, "all").Summary()
	assert.Equal(t, 10, through, "cut to Len")
	for _, removed := range []session.Session{sum.Summarize(0, "x"), sum.Summarize(3, ""), sum.Truncate(5), sum.ClearMessages()} {
		text, through := removed.Summary()
		assert.Equal(t, "", text)
		assert.Equal(t, 0, through)
	}
	text, _ = sum.Truncate(6).Summary()
	assert.Equal(t, "the first six", text, "Truncate to through keeps it")
	text, through = sum.Summarize(8, "rolling").Summary()
	assert.Equal(t, "rolling", text)
	assert.Equal(t, 8, through)
}

// TestSummaryInJSON checks that a summary is written and read back, that ExLLM's
// reading of the file keeps every message, and that a file's "summary" of another form is
// kept as it is.
func TestSummaryInJSON(t *testing.T) {
	s := grow(session.New("openai"), "m", 5).Summarize(3, "caf\xc3 summary")
	data := must(s.ToJSON())
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, map[string]any{"text": "caf\uFFFD summary", "through": 3.0}, doc["summary"])
	assert.Len(t, doc["messages"], 5, "every message is written")
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
	assert.Equal(t, string(data), string(must(back.ToJSON())))
	header, err := storage.Header(s)
	require.NoError(t, err)
	assert.Contains(t, string(header), `"summary":{"text":`)

	for _, other := range []string{`"a summary"`, `{"text":"t"}`, `{"text":"t","through":"3"}`, `{"text":"t","through":0}`,
		`{"text":"t","through":1.5}`, `{"text":"t","through":2,"by":"me"}`, `{"text":"","through":2}`, `null`} {
		file := `{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","summary":` + other + `}`
		s, err := session.FromJSON([]byte(file))
		require.NoError(t, err, other)
		text, _ := s.Summary()
		assert.Equal(t, "", text, other)
		var got map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(must(s.ToJSON()), &got))
		assert.JSONEq(t, other, string(got["summary"]), "kept as it was")
		replaced := s.AddMessage("user", "hi").Summarize(1, "mine")
		require.NoError(t, json.Unmarshal(must(replaced.ToJSON()), &got))
		assert.JSONEq(t, `{"text":"mine","through":1}`, string(got["summary"]))
	}
}

// TestSummarizedWindow checks what Window sends of a summarized session: the leading
// system messages, the summary, and only messages from its end on.
func TestSummarizedWindow(t *testing.T) {
	s := session.New("").AddMessage("system", "rules")
	s = grow(s, "m", 12).Summarize(8, "summary of 1-7")
	w := s.Window(1000, nil, session.KeepSystem())
	assert.Equal(t, []string{"rules", "summary of 1-7", "m8", "m9", "m10", "m11"}, contents(w))
	assert.Equal(t, "user", w[1].Role)
	assert.Equal(t, json.Number("8"), w[1].Extra["summary_through"])
	assert.Equal(t, "system", s.Window(1000, nil, session.KeepSystem(), session.SummaryAs("system"))[1].Role)
	assert.Equal(t, []string{"summary of 1-7", "m8", "m9", "m10", "m11"}, contents(s.Window(1000, nil)))

	count := func(m session.Message) int { return len(m.Content) }
	assert.Equal(t, []string{"rules", "summary of 1-7", "m10", "m11"}, contents(s.Window(5+14+6, count, session.KeepSystem())))
	assert.Empty(t, s.Window(5+13, count, session.KeepSystem()), "no window without the summary")

	// A partial session has the summary in its header.
	part := s.Recent(3)
	assert.Equal(t, []string{"summary of 1-7", "m9", "m10", "m11"}, contents(part.Window(1000, nil)))
}

// TestSummaryPoint checks that SummaryPoint keeps the tokens asked for after it, starts
// after the current summary and the system messages, and never cuts a tool group.
func TestSummaryPoint(t *testing.T) {
	count := func(m session.Message) int { return len(m.Content) + 1 }
	s := conversation(
		msg{"system", "sys", nil},
		msg{"user", "aaaa", nil},
		msg{"assistant", "", calling("c1", "c2")},
		msg{"tool", "r1", answering("c1")},
		msg{"tool", "r2", answering("c2")},
		msg{"assistant", "done", nil},
	)
	assert.Equal(t, 5, s.SummaryPoint(5, count), "keeps done")
	assert.Equal(t, 5, s.SummaryPoint(8, count), "not r2 without its call")
	assert.Equal(t, 2, s.SummaryPoint(13, count), "the call and its results")
	assert.Equal(t, 1, s.SummaryPoint(1000, count), "never the system message")
	assert.Equal(t, 5, s.Summarize(5, "x").SummaryPoint(1000, count), "nothing before the summary's end")

	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		s := randomToolConversation(r, r.IntN(40))
		keep := r.IntN(30)
		at := s.SummaryPoint(keep, count)
		require.GreaterOrEqual(t, at, 0)
		require.LessOrEqual(t, at, s.Len())
		if at < s.Len() {
			require.NotEqual(t, "tool", s.MessageAt(at).Role, "cuts a group at %d", at)
		}
		kept := 0
		for _, m := range s.Slice(at, s.Len()) {
			kept += count(m)
		}
		require.LessOrEqual(t, kept, keep)
	}
}

func TestSlice(t *testing.T) {
	s := grow(session.New(""), "m", 10)
	assert.Equal(t, []string{"m2", "m3"}, contents(s.Slice(2, 4)))
	assert.Equal(t, []string{"m8", "m9"}, contents(s.Slice(8, 99)))
	assert.Empty(t, s.Slice(5, 5))
	assert.Empty(t, s.Slice(-3, 0))
	assert.Equal(t, []string{"m7", "m8"}, contents(s.Recent(3).Slice(0, 9)), "what a partial session holds")
	copied := s.Slice(0, 1)
	copied[0].Content = strings.ToUpper(copied[0].Content)
	assert.Equal(t, "m0", s.MessageAt(0).Content)
}

// TestSummaryRoundTrips summarizes random sessions at random points and checks that
// FromJSON(ToJSON(s)) keeps the summary, and is Equal to s.
func TestSummaryRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	for seed := range uint64(200) {
		s := randomSession(seed)
		s = s.Summarize(r.IntN(s.Len()+2), randomString(r)+"x")
		back, err := session.FromJSON(must(s.ToJSON()))
		require.NoError(t, err, "seed %d", seed)
		require.True(t, back.Equal(s), "seed %d", seed)
		text, through := s.Summary()
		backText, backThrough := back.Summary()
		require.Equal(t, through, backThrough)
		require.Equal(t, text == "", backText == "")
	}
}
