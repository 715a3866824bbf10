package llm

import (
	"github.com/openai/openai-go/v3"

	"github.com/exllm-go/session"
)

// requestMessages converts a window of the session into Chat Completions messages.
func requestMessages(window []session.Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(window))
	for _, m := range window {
		switch m.Role {
		case "system":
			out = append(out, openai.SystemMessage(m.Content))
		case "assistant":
			a := openai.ChatCompletionAssistantMessageParam{}
			if m.Content != "" {
				a.Content.OfString = openai.String(m.Content)
			}
			calls, _ := m.Extra["tool_calls"].([]any)
			for _, c := range calls {
				c, _ := c.(map[string]any)
				f, _ := c["function"].(map[string]any)
				id, _ := c["id"].(string)
				name, _ := f["name"].(string)
				args, _ := f["arguments"].(string)
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       id,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: name, Arguments: args},
					},
				})
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case "tool":
			id, _ := m.Extra["tool_call_id"].(string)
			out = append(out, openai.ToolMessage(m.Content, id))
		default:
			out = append(out, openai.UserMessage(m.Content))
		}
	}
	return out
}
