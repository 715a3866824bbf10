package session_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/exllm-go/session"
)

func TestToolCalls(t *testing.T) {
	calls := []any{
		map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "f", "arguments": `{"a":1}`}},
		map[string]any{"id": "call_2", "function": map[string]any{"name": "g"}},
		"not an object",
	}
	m := session.New("").AddMessage("assistant", "", session.WithExtra("tool_calls", calls))
	got, _ := m.LastMessage()
	assert.Equal(t, []session.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"a":1}`}, {ID: "call_2", Name: "g"}, {}}, got.ToolCalls())
	plain, _ := session.New("").AddMessage("assistant", "hi").LastMessage()
	assert.Nil(t, plain.ToolCalls())
}
