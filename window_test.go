package session_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// msg describes a message to add: its role, its content, and extra fields.
type msg struct {
	role, content string
	extra         map[string]any
}

func conversation(msgs ...msg) session.Session {
	s := session.New("openai")
	for _, m := range msgs {
		var opts []session.MessageOption
		for k, v := range m.extra {
			opts = append(opts, session.WithExtra(k, v))
		}
		s = s.AddMessage(m.role, m.content, opts...)
	}
	return s
}

// byLength counts a message's content length as its tokens, and records each call.
type byLength struct{ calls map[string]int }

func (c *byLength) count(m session.Message) int {
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[m.Content]++
	return len(m.Content)
}

func calling(ids ...string) map[string]any {
	calls := make([]any, len(ids))
	for i, id := range ids {
		calls[i] = map[string]any{"id": id, "type": "function", "function": map[string]any{"name": "f", "arguments": "{}"}}
	}
	return map[string]any{"tool_calls": calls}
}

func answering(id string) map[string]any { return map[string]any{"tool_call_id": id} }

func TestWindow(t *testing.T) {
	chat := []msg{
		{"system", "sys", nil},      // 3
		{"user", "u1aaa", nil},      // 5
		{"assistant", "a1aaa", nil}, // 5
		{"user", "u2aaa", nil},      // 5
		{"assistant", "a2aaa", nil}, // 5
		{"user", "u3aaaaaaaa", nil}, // 10
	}
	// A single call and a parallel call (one assistant message, two results).
	tools := []msg{
		{"system", "sys", nil},                         // 3
		{"user", "weather?", nil},                      // 8
		{"assistant", "", calling("call_1")},           // 0
		{"tool", "sunny", answering("call_1")},         // 5
		{"assistant", "it is sunny", nil},              // 11
		{"user", "and both?", nil},                     // 9
		{"assistant", "", calling("call_2", "call_3")}, // 0
		{"tool", "rain", answering("call_2")},          // 4
		{"tool", "snow", answering("call_3")},          // 4
		{"assistant", "rain and snow", nil},            // 13
	}
	tests := []struct {
		name   string
		msgs   []msg
		budget int
		opts   []session.WindowOption
		want   []string
	}{
		{"budget 0", chat, 0, nil, []string{}},
		{"budget smaller than the newest message", chat, 9, nil, []string{}},
		{"exact fit of the newest", chat, 10, nil, []string{"u3aaaaaaaa"}},
		{"exact fit of several", chat, 20, nil, []string{"u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"one short of the next", chat, 24, nil, []string{"u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"everything", chat, 33, nil, []string{"sys", "u1aaa", "a1aaa", "u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"more than everything", chat, 1000, nil, []string{"sys", "u1aaa", "a1aaa", "u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"system not kept", chat, 30, nil, []string{"u1aaa", "a1aaa", "u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"system kept", chat, 22, []session.WindowOption{session.KeepSystem()}, []string{"sys", "a2aaa", "u3aaaaaaaa"}},
		{"system kept, counted first", chat, 12, []session.WindowOption{session.KeepSystem()}, []string{"sys"}},
		{"system kept with everything", chat, 33, []session.WindowOption{session.KeepSystem()}, []string{"sys", "u1aaa", "a1aaa", "u2aaa", "a2aaa", "u3aaaaaaaa"}},
		{"system alone too big", chat, 2, []session.WindowOption{session.KeepSystem()}, []string{}},
		{"only system messages", []msg{{"system", "abc", nil}, {"system", "de", nil}}, 5, []session.WindowOption{session.KeepSystem()}, []string{"abc", "de"}},

		{"parallel group fits whole", tools, 21, nil, []string{"", "rain", "snow", "rain and snow"}},
		{"parallel group one short: dropped whole", tools, 20, nil, []string{"rain and snow"}},
		{"parallel group cut after a result: dropped whole", tools, 17, nil, []string{"rain and snow"}},
		{"after the parallel group", tools, 30, nil, []string{"and both?", "", "rain", "snow", "rain and snow"}},
		{"single group at the boundary: dropped", tools, 44, nil, []string{"it is sunny", "and both?", "", "rain", "snow", "rain and snow"}},
		{"single group at the boundary: kept", tools, 46, nil, []string{"", "sunny", "it is sunny", "and both?", "", "rain", "snow", "rain and snow"}},
		{"tool groups with system kept", tools, 33, []session.WindowOption{session.KeepSystem()}, []string{"sys", "and both?", "", "rain", "snow", "rain and snow"}},

		{"a result whose call is gone is never sent", []msg{
			{"tool", "orphan", answering("call_0")}, {"user", "hi", nil},
		}, 100, nil, []string{"hi"}},
		{"a tool message without an id goes with the nearest tool_calls", []msg{
			{"user", "q", nil}, {"assistant", "", calling("x")}, {"tool", "r", nil}, {"assistant", "done", nil},
		}, 5, nil, []string{"", "r", "done"}},
		{"a tool message without any call is never sent, and the window goes on", []msg{
			{"user", "q", nil}, {"tool", "r", nil}, {"assistant", "done", nil},
		}, 100, nil, []string{"q", "done"}},
		{"Anthropic tool_use and tool_result blocks", []msg{
			{"user", "q", nil},
			{"assistant", "", map[string]any{"content_blocks": []any{map[string]any{"type": "tool_use", "id": "toolu_1"}}}},
			{"user", "", map[string]any{"content_blocks": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_1"}}}},
			{"assistant", "ok", nil},
		}, 2, nil, []string{"", "", "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := conversation(tt.msgs...)
			var counter byLength
			before := s.GetMessages(0)
			got := s.Window(tt.budget, counter.count, tt.opts...)
			require.NotNil(t, got)
			assert.Equal(t, tt.want, contents(got))
			assert.Equal(t, before, s.GetMessages(0), "the session changed")

			total := 0
			for _, m := range got {
				total += len(m.Content)
			}
			assert.LessOrEqual(t, total, tt.budget, "over budget")
			for content, n := range counter.calls {
				if content != "" {
					assert.Equal(t, 1, n, "count called %d times for %q", n, content)
				}
			}
			if len(got) > 0 {
				assert.NotEqual(t, "tool", got[0].Role, "the window begins with a tool message")
			}
		})
	}
}

// TestWindowNeverSplitsToolGroups checks every budget over a conversation of tool
// calls: each window is within budget, ends with the newest message it can, and every
// result in it has its call in it.
func TestWindowNeverSplitsToolGroups(t *testing.T) {
	var msgs []msg
	for i := range 20 {
		msgs = append(msgs, msg{"user", strings.Repeat("u", 1+i%4), nil})
		ids := []string{fmt.Sprint("c", i, "a")}
		if i%3 == 0 {
			ids = append(ids, fmt.Sprint("c", i, "b"))
		}
		msgs = append(msgs, msg{"assistant", "", calling(ids...)})
		for _, id := range ids {
			msgs = append(msgs, msg{"tool", strings.Repeat("r", 1+i%3), answering(id)})
		}
		msgs = append(msgs, msg{"assistant", strings.Repeat("a", 2+i%5), nil})
	}
	s := conversation(msgs...)
	for budget := range 200 {
		got := s.Window(budget, session.EstimateTokens)
		total := 0
		called := map[string]bool{}
		for i, m := range got {
			total += session.EstimateTokens(m)
			if calls, ok := m.Extra["tool_calls"].([]any); ok {
				for _, c := range calls {
					called[c.(map[string]any)["id"].(string)] = true
				}
			}
			if id, ok := m.Extra["tool_call_id"].(string); ok {
				require.True(t, called[id], "budget %d: result %d answers %s, whose call is not in the window", budget, i, id)
			}
		}
		require.LessOrEqual(t, total, budget)
		if len(got) > 0 {
			require.Equal(t, s.GetMessages(len(got)), got, "budget %d: not a suffix", budget)
		}
	}
}

// TestWindowExaminesAboutWhatItReturns checks that a window over a long session counts
// about as many messages as it returns.
func TestWindowExaminesAboutWhatItReturns(t *testing.T) {
	s := grow(session.New(""), "m", 10_000)
	calls := 0
	got := s.Window(50*session.EstimateTokens(s.GetMessages(1)[0]), func(m session.Message) int {
		calls++
		return session.EstimateTokens(m)
	})
	assert.Len(t, got, 50)
	assert.LessOrEqual(t, calls, 51)
}

func TestWindowEdgeArguments(t *testing.T) {
	s := session.New("").AddMessage("user", "").AddMessage("assistant", "")
	zero := func(session.Message) int { return 0 }
	negative := func(session.Message) int { return -5 }
	assert.Empty(t, s.Window(-1, zero), "a negative budget gives nothing")
	assert.Len(t, s.Window(0, zero), 2, "messages that cost nothing fit a budget of 0")
	assert.Len(t, s.Window(0, negative), 2, "a negative count counts as 0")
	assert.Equal(t, s.Window(12, session.EstimateTokens), s.Window(12, nil), "nil counts with EstimateTokens")
	assert.Len(t, s.Window(12, nil), 2)
	assert.Len(t, s.Window(11, nil), 1)
}

func TestWindowWithoutTimestamps(t *testing.T) {
	s := session.New("").
		AddMessage("user", "ab", session.WithTimestamp(time.Time{})).
		AddMessage("assistant", "cd", session.WithTimestamp(time.Time{}))
	var counter byLength
	got := s.Window(4, counter.count)
	assert.Equal(t, []string{"ab", "cd"}, contents(got))
	assert.True(t, got[0].Timestamp.IsZero())
}

func TestWindowReturnsCopies(t *testing.T) {
	s := session.New("").AddMessage("user", "hi", session.WithExtra("metadata", map[string]any{"k": "v"}))
	got := s.Window(100, session.EstimateTokens)
	got[0].Extra["metadata"].(map[string]any)["k"] = "changed"
	assert.Equal(t, "v", s.GetMessages(0)[0].Extra["metadata"].(map[string]any)["k"])
}

func TestEstimateTokens(t *testing.T) {
	long := strings.Repeat("word ", 200) // 1,000 bytes
	tests := []struct {
		name string
		m    session.Message
		want int
	}{
		{"empty", session.Message{}, 4},
		{"one byte", session.Message{Content: "a"}, 5},
		{"role and content", session.Message{Role: "user", Content: "Hello!"}, 4 + 3},
		{"long", session.Message{Role: "user", Content: long}, 4 + 251},
		{"multi-byte UTF-8 counts bytes", session.Message{Content: "日本語"}, 4 + 3},
		{"extra fields as JSON", session.Message{Role: "tool", Content: "ok", Extra: map[string]any{"tool_call_id": "call_9"}}, 4 + (4+2+len(`{"tool_call_id":"call_9"}`)+3)/4},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, session.EstimateTokens(tt.m), tt.name)
	}
	assert.Positive(t, session.EstimateTokens(session.Message{Content: "x"}))
}

// TestWindowCountCannotChangeTheSession gives Window count functions that change the
// messages they get: the session stays as it was.
func TestWindowCountCannotChangeTheSession(t *testing.T) {
	s := conversation(
		msg{"user", "q", map[string]any{"metadata": map[string]any{"k": []any{"v"}}}},
		msg{"assistant", "", calling("c1")},
		msg{"tool", "r", answering("c1")},
	).AddMessage("user", "", session.WithParts(map[string]any{"type": "text", "text": "hi"}))
	before := must(s.ToJSON())
	hostile := func(m session.Message) int {
		if m.Extra != nil {
			m.Extra["x"] = 1
			delete(m.Extra, "tool_calls")
			if meta, ok := m.Extra["metadata"].(map[string]any); ok {
				meta["k"].([]any)[0] = "changed"
				meta["new"] = true
			}
		}
		for _, p := range m.Parts {
			p["text"] = "changed"
		}
		return 1
	}
	got := s.Window(100, hostile)
	assert.Len(t, got, 4)
	assert.Equal(t, string(before), string(must(s.ToJSON())))
	assert.Equal(t, "hi", got[3].Parts[0]["text"], "nor the window it returns")

	// Under the race detector: a hostile count beside encoders of the same session.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			s.Window(100, hostile)
		}
	}()
	for range 200 {
		_, err := s.ToJSON()
		require.NoError(t, err)
	}
	<-done
}

func TestWindowSumsSaturate(t *testing.T) {
	s := conversation(msg{"user", "u", nil}, msg{"assistant", "a", calling("c1")}, msg{"tool", "t", answering("c1")})
	huge := func(m session.Message) int {
		if m.Role == "tool" {
			return 5
		}
		return math.MaxInt - 2
	}
	assert.Empty(t, s.Window(10, huge), "a group whose sum overflows is over budget")

	system := conversation(msg{"system", "a", nil}, msg{"system", "b", nil}, msg{"user", "u", nil})
	maxed := func(session.Message) int { return math.MaxInt }
	assert.Empty(t, system.Window(math.MaxInt, maxed, session.KeepSystem()), "two system messages of MaxInt exceed MaxInt")
	assert.Len(t, system.Window(math.MaxInt, func(session.Message) int { return math.MaxInt / 4 }, session.KeepSystem()), 3)
}

func TestWindowNeverSendsUnansweredCalls(t *testing.T) {
	tests := []struct {
		name string
		msgs []msg
		want []string
	}{
		{"a call without results", []msg{
			{"user", "q", nil}, {"assistant", "calling", calling("c1")}, {"user", "again", nil},
		}, []string{"q", "again"}},
		{"a call at the end", []msg{
			{"user", "q", nil}, {"assistant", "calling", calling("c1")},
		}, []string{"q"}},
		{"one of two calls answered", []msg{
			{"user", "q", nil}, {"assistant", "", calling("c1", "c2")}, {"tool", "r1", answering("c1")}, {"user", "next", nil},
		}, []string{"q", "next"}},
		{"the result comes after another message", []msg{
			{"user", "q", nil}, {"assistant", "", calling("c1")}, {"user", "hurry", nil}, {"tool", "late", answering("c1")},
		}, []string{"q", "hurry"}},
		{"a result for another call inside the group", []msg{
			{"user", "q", nil}, {"assistant", "", calling("c1")}, {"tool", "r1", answering("c1")}, {"tool", "stray", answering("c9")},
		}, []string{"q"}},
		{"results before their call", []msg{
			{"tool", "early", answering("c1")}, {"assistant", "", calling("c1")}, {"user", "q", nil},
		}, []string{"q"}},
		{"a whole group", []msg{
			{"user", "q", nil}, {"assistant", "", calling("c1", "c2")}, {"tool", "r2", answering("c2")}, {"tool", "r1", answering("c1")},
		}, []string{"q", "", "r2", "r1"}},
		{"Anthropic blocks in parts", []msg{
			{"user", "q", nil},
			{"assistant", "", map[string]any{"parts": []map[string]any{{"type": "text", "text": "let me look"}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": map[string]any{}}}}},
			{"user", "", map[string]any{"parts": []map[string]any{{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}}}},
			{"assistant", "42", nil},
		}, []string{"q", "let me look", "", "42"}},
		{"Anthropic tool_use without its result", []msg{
			{"user", "q", nil},
			{"assistant", "", map[string]any{"parts": []map[string]any{{"type": "tool_use", "id": "toolu_1", "name": "f", "input": map[string]any{}}}}},
			{"user", "never mind", nil},
		}, []string{"q", "never mind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session.New("")
			for _, m := range tt.msgs {
				var opts []session.MessageOption
				for k, v := range m.extra {
					if k == "parts" {
						opts = append(opts, session.WithParts(v.([]map[string]any)...))
						continue
					}
					opts = append(opts, session.WithExtra(k, v))
				}
				s = s.AddMessage(m.role, m.content, opts...)
			}
			assert.Equal(t, tt.want, contents(s.Window(1000, nil)))
		})
	}
}

// randomToolConversation returns a conversation of users, assistants, tool calls and
// results, with calls left unanswered, results that answer nothing, results out of
// place and tool messages without an id.
func randomToolConversation(r *rand.Rand, n int) session.Session {
	s := session.New("")
	var recent []string
	next := 0
	for range n {
		switch r.IntN(6) {
		case 0:
			s = s.AddMessage("user", strings.Repeat("u", r.IntN(9)))
		case 1:
			s = s.AddMessage("assistant", strings.Repeat("a", r.IntN(9)))
		case 2, 3:
			var ids []string
			for range 1 + r.IntN(3) {
				next++
				ids = append(ids, fmt.Sprint("c", next))
			}
			recent = append(recent, ids...)
			s = s.AddMessage("assistant", strings.Repeat("a", r.IntN(3)), session.WithExtra("tool_calls", calling(ids...)["tool_calls"]))
			// Mostly, all the results follow.
			if r.IntN(4) > 0 {
				for _, i := range r.Perm(len(ids)) {
					s = s.AddMessage("tool", strings.Repeat("r", r.IntN(5)), session.WithExtra("tool_call_id", ids[i]))
				}
			}
		case 4:
			id := fmt.Sprint("c", r.IntN(next+2))
			if len(recent) > 0 && r.IntN(2) == 0 {
				id = recent[r.IntN(len(recent))]
			}
			s = s.AddMessage("tool", "r", session.WithExtra("tool_call_id", id))
		case 5:
			s = s.AddMessage("tool", "anonymous")
		}
	}
	return s
}

// referenceWindow is the window as Window documents it, found the slow and plain way:
// the session is cut from the oldest message into units (a message, or a call with all
// its results right after it) and what no API accepts; units are then taken from the
// newest while they fit.
func referenceWindow(msgs []session.Message, budget int, count func(session.Message) int) []session.Message {
	isCall := func(m session.Message) bool { _, ok := m.Extra["tool_calls"]; return ok }
	isResult := func(m session.Message) bool { return m.Role == "tool" }
	var units [][]session.Message
	for i := 0; i < len(msgs); {
		m := msgs[i]
		switch {
		case isCall(m):
			j := i + 1
			for j < len(msgs) && isResult(msgs[j]) {
				j++
			}
			calls := map[string]bool{}
			for _, c := range m.Extra["tool_calls"].([]any) {
				calls[c.(map[string]any)["id"].(string)] = false
			}
			ok, anonymous := true, 0
			for _, res := range msgs[i+1 : j] {
				id, has := res.Extra["tool_call_id"].(string)
				if !has {
					anonymous++
					continue
				}
				if _, known := calls[id]; !known {
					ok = false
				}
				calls[id] = true
			}
			for _, answered := range calls {
				if !answered {
					anonymous--
				}
			}
			if ok && anonymous >= 0 && j > i+1 {
				units = append(units, msgs[i:j])
			}
			i = j
		case isResult(m):
			i++ // an orphan
		default:
			units = append(units, msgs[i:i+1])
			i++
		}
	}
	var window []session.Message
	used := 0
	for u := len(units) - 1; u >= 0; u-- {
		cost := 0
		for _, m := range units[u] {
			cost += count(m)
		}
		if used+cost > budget {
			break
		}
		used += cost
		window = append(slices.Clone(units[u]), window...)
	}
	return window
}

// TestWindowMatchesReference checks Window against referenceWindow on random
// conversations and budgets, and that what it returns is what the APIs accept.
func TestWindowMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		s := randomToolConversation(r, r.IntN(40))
		msgs := s.GetMessages(0)
		budget := r.IntN(60)
		var counter byLength
		got := s.Window(budget, counter.count)
		want := referenceWindow(msgs, budget, func(m session.Message) int { return len(m.Content) })
		require.Equal(t, contents(want), contents(got), "budget %d over %v", budget, contents(msgs))
		require.Equal(t, len(want), len(got))
		for i := range got {
			require.True(t, got[i].Equal(want[i]))
		}
	}
}

// TestWindowPairsGeminiCalls: a part with a "functionCall" is a call and one with a
// "functionResponse" its result, with ids or without: Window keeps them together, and
// leaves out a response whose call is not right before it.
func TestWindowPairsGeminiCalls(t *testing.T) {
	call := session.WithParts(map[string]any{"functionCall": map[string]any{"name": "f", "args": map[string]any{}}})
	s := session.New("gemini").
		AddMessage("user", "q").
		AddMessage("assistant", "", call).
		AddMessage("tool", "r1"). // no id: answers the call before it
		AddMessage("user", "q2").
		AddMessage("user", "", session.WithParts(map[string]any{"functionResponse": map[string]any{"name": "f"}})). // an orphan
		AddMessage("assistant", "", session.WithParts(map[string]any{"functionCall": map[string]any{"id": "c9", "name": "g"}})).
		AddMessage("user", "", session.WithParts(map[string]any{"functionResponse": map[string]any{"id": "c9", "name": "g"}})).
		AddMessage("assistant", "", call) // unanswered
	var roles []string
	for _, m := range s.Window(1_000_000, nil) {
		roles = append(roles, m.Role+":"+fmt.Sprint(len(m.Parts)))
	}
	assert.Equal(t, []string{"user:0", "assistant:1", "tool:0", "user:0", "assistant:1", "user:1"}, roles)
}

func TestRepeatedPrefix(t *testing.T) {
	s := session.New("").AddMessage("system", "rules").AddMessage("user", "q1")
	assert.Equal(t, 0, session.RepeatedPrefix(s.GetMessages(0)), "the first request repeats nothing")
	s = s.AddMessage("assistant", "a1").AddMessage("user", "q2")
	assert.Equal(t, 2, session.RepeatedPrefix(s.GetMessages(0)), "system and q1 were the first request")
	s = s.AddMessage("assistant", "", session.WithExtra("tool_calls", []any{map[string]any{"id": "c", "type": "function",
		"function": map[string]any{"name": "f", "arguments": "{}"}}})).AddMessage("tool", "r", session.WithExtra("tool_call_id", "c"))
	assert.Equal(t, 4, session.RepeatedPrefix(s.GetMessages(0)), "a tool round: up to the call")
}
