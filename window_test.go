package session_test

import (
	"fmt"
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
