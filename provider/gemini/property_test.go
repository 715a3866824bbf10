package gemini_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/exllm-go/session"
	sessiongemini "github.com/exllm-go/session/provider/gemini"
)

// TestRoundTripProperty: random conversations whose answers, decoded by the SDK from
// the API's JSON (text, thoughts, function calls, signatures on the parts that carried
// them), are gathered, appended and sent back: every answer's parts come back in the
// next request as the API gave them, before and after a JSON round trip of the session.
func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	words := []string{"hi", "café", "\u2028", `"quoted"`, "line\nbreak", "x"}
	word := func() string { return words[r.IntN(len(words))] }
	for round := range 150 {
		s := session.New("gemini").AddMessage("system", word())
		var answers []any
		for turn := range 1 + r.IntN(4) {
			s = s.AddMessage("user", word())
			var parts []any
			if r.IntN(2) == 0 {
				parts = append(parts, map[string]any{"text": word(), "thought": true})
			}
			parts = append(parts, map[string]any{"text": word()})
			call := r.IntN(3) == 0
			if call {
				parts = append(parts, map[string]any{"functionCall": map[string]any{"name": "f", "args": map[string]any{"n": float64(turn + 1)}},
					"thoughtSignature": "c2ln"})
			}
			raw, err := json.Marshal(map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "finishReason": "STOP"}}})
			require.NoError(t, err)
			var chunk genai.GenerateContentResponse
			require.NoError(t, json.Unmarshal(raw, &chunk))
			var acc sessiongemini.Accumulator
			acc.Add(&chunk)
			s = acc.AppendTo(s)
			answers = append(answers, map[string]any{"role": "model", "parts": parts})
			if call {
				s = sessiongemini.ToolResult(s, acc.Calls()[0], fmt.Sprint("result ", turn))
			}
		}
		data, err := s.ToJSON()
		require.NoError(t, err)
		back, err := session.FromJSON(data)
		require.NoError(t, err)
		for _, sess := range []session.Session{s, back} {
			_, contents := sessiongemini.Contents(sess.GetMessages(0))
			raw, err := json.Marshal(contents)
			require.NoError(t, err)
			var sent []map[string]any
			require.NoError(t, json.Unmarshal(raw, &sent))
			var got []any
			for _, c := range sent {
				if c["role"] == "model" {
					got = append(got, any(c))
				}
			}
			require.Equal(t, answers, got, "round %d", round)
		}
	}
}
