package anthropic_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	sessionanthropic "github.com/exllm-go/session/provider/anthropic"
)

// TestRoundTripProperty: random conversations whose answers, decoded by the SDK from
// the API's JSON (text, thinking with a signature, redacted thinking, tool_use), are
// appended and sent back: every answer's blocks come back in the next request as the
// API gave them, before and after a JSON round trip of the session.
func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"hi", "café", "\u2028", `"quoted"`, "line\nbreak", "x"}
	word := func() string { return words[r.IntN(len(words))] }
	for round := range 150 {
		s := session.New("anthropic").AddMessage("system", word())
		var answers [][]any
		for turn := range 1 + r.IntN(4) {
			s = s.AddMessage("user", word())
			var blocks []any
			if r.IntN(2) == 0 {
				blocks = append(blocks, map[string]any{"type": "thinking", "thinking": word(), "signature": fmt.Sprint("sig", round, turn)})
			}
			if r.IntN(4) == 0 {
				blocks = append(blocks, map[string]any{"type": "redacted_thinking", "data": fmt.Sprint("opaque", turn)})
			}
			blocks = append(blocks, map[string]any{"type": "text", "text": word()})
			tool := r.IntN(3) == 0
			if tool {
				blocks = append(blocks, map[string]any{"type": "tool_use", "id": fmt.Sprint("toolu_", round, "_", turn), "name": "f",
					"input": map[string]any{"n": float64(r.IntN(9))}})
			}
			raw, err := json.Marshal(map[string]any{"id": "msg", "type": "message", "role": "assistant", "model": "m",
				"content": blocks, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": r.IntN(50), "output_tokens": r.IntN(50)}})
			require.NoError(t, err)
			var m anthropic.Message
			require.NoError(t, json.Unmarshal(raw, &m))
			s = sessionanthropic.AppendMessage(s, m)
			answers = append(answers, blocks)
			if tool {
				s = sessionanthropic.ToolResult(s, fmt.Sprint("toolu_", round, "_", turn), "result")
			}
		}
		data, err := s.ToJSON()
		require.NoError(t, err)
		back, err := session.FromJSON(data)
		require.NoError(t, err)
		for _, sess := range []session.Session{s, back} {
			body := wire(t, sess.GetMessages(0), 0)
			var got [][]any
			for _, m := range body["messages"].([]any) {
				m := m.(map[string]any)
				if m["role"] == "assistant" {
					content := m["content"].([]any)
					last := content[len(content)-1].(map[string]any)
					delete(last, "cache_control") // the last message's marker
					got = append(got, content)
				}
			}
			require.Equal(t, answers, got, "round %d", round)
		}
	}
}
