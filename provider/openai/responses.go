package openai

import (
	"encoding/json"

	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"

	"github.com/exllm-go/session"
)

// outputKey is the key of Extra that holds an answer of the Responses API as its output
// items, as the API gave them (reasoning with its encrypted_content, messages, function
// calls), to be sent back as they are.
const outputKey = "responses_output"

// Input returns window as the Responses API's input items, for a request that carries
// the whole conversation itself: the session is the memory, not the provider (set Store
// to false and ask for reasoning's encrypted content: see Stateless).
//
//   - An answer appended by AppendResponse is sent as its output items, unchanged:
//     reasoning items with their encrypted content, messages, function calls.
//   - A message recorded from Chat Completions is converted: text as a message item,
//     tool_calls as function_call items, a "tool" message as a function_call_output.
func Input(window []session.Message) responses.ResponseInputParam {
	out := make(responses.ResponseInputParam, 0, len(window))
	add := func(item map[string]any) {
		data, _ := json.Marshal(item) // JSON values only
		out = append(out, param.Override[responses.ResponseInputItemUnionParam](json.RawMessage(data)))
	}
	for _, m := range window {
		if items, ok := m.Extra[outputKey].([]any); ok && m.Role == "assistant" {
			for _, item := range items {
				if item, ok := item.(map[string]any); ok {
					add(item)
				}
			}
			continue
		}
		switch {
		case m.Role == "tool":
			id, _ := m.Extra["tool_call_id"].(string)
			add(map[string]any{"type": "function_call_output", "call_id": id, "output": m.Content})
			continue
		case m.Role == "assistant":
			if m.Content != "" {
				add(map[string]any{"type": "message", "role": "assistant", "content": []any{map[string]any{"type": "output_text", "text": m.Content}}})
			}
			for _, c := range m.ToolCalls() {
				add(map[string]any{"type": "function_call", "call_id": c.ID, "name": c.Name, "arguments": c.Arguments})
			}
			continue
		}
		role := m.Role
		if role != "system" && role != "developer" {
			role = "user"
		}
		add(map[string]any{"type": "message", "role": role, "content": inputContent(m)})
	}
	return out
}

// inputContent returns the content of a user or system message as input parts.
func inputContent(m session.Message) []any {
	if m.Parts == nil {
		return []any{map[string]any{"type": "input_text", "text": m.Content}}
	}
	var out []any
	for _, p := range m.Parts {
		switch p["type"] {
		case "text":
			out = append(out, map[string]any{"type": "input_text", "text": p["text"]})
		case "image_url":
			img, _ := p["image_url"].(map[string]any)
			out = append(out, map[string]any{"type": "input_image", "image_url": img["url"], "detail": "auto"})
		default:
			out = append(out, p) // input_text, input_image, input_file as given
		}
	}
	return out
}

// Stateless sets p to carry the conversation itself: nothing stored by the provider, no
// previous_response_id, and the reasoning items' encrypted content returned, so that
// Input sends them back.
func Stateless(p *responses.ResponseNewParams) {
	p.Store = param.NewOpt(false)
	p.PreviousResponseID = param.Opt[string]{}
	for _, inc := range p.Include {
		if inc == responses.ResponseIncludableReasoningEncryptedContent {
			return
		}
	}
	p.Include = append(p.Include, responses.ResponseIncludableReasoningEncryptedContent)
}

// ResponseUsage returns u as the session counts tokens: InputTokens is input_tokens
// (cached ones included), CacheReadTokens its cached_tokens, OutputTokens output_tokens
// and ReasoningTokens its reasoning_tokens.
func ResponseUsage(u responses.ResponseUsage) session.TokenUsage {
	return session.TokenUsage{
		InputTokens:     int(u.InputTokens),
		OutputTokens:    int(u.OutputTokens),
		CacheReadTokens: int(u.InputTokensDetails.CachedTokens),
		ReasoningTokens: int(u.OutputTokensDetails.ReasoningTokens),
	}
}

// AppendResponse returns s with r's answer appended (see ResponseAnswer), with r's
// usage (see ResponseUsage) added to the message and to the session's totals.
func AppendResponse(s session.Session, r responses.Response) session.Session {
	content, opts := ResponseAnswer(r)
	return s.AddMessage("assistant", content, append(opts, session.WithUsage(ResponseUsage(r.Usage)))...)
}

// ResponseAnswer returns the content and the options of the assistant message that
// records r's answer, without its usage: the text of its output messages, its output
// items as the API gave them (Extra's responses_output, which Input sends back
// unchanged), and its function calls in Chat Completions' shape (tool_calls, which
// Messages sends).
func ResponseAnswer(r responses.Response) (string, []session.MessageOption) {
	var text string
	items := make([]any, 0, len(r.Output))
	var calls []any
	for _, o := range r.Output {
		var item any
		if json.Unmarshal([]byte(o.RawJSON()), &item) != nil {
			continue
		}
		items = append(items, item)
		switch o.Type {
		case "message":
			for _, c := range o.Content {
				if c.Type == "output_text" {
					text += c.Text
				}
			}
		case "function_call":
			calls = append(calls, map[string]any{"id": o.CallID, "type": "function",
				"function": map[string]any{"name": o.Name, "arguments": o.Arguments.OfString}})
		}
	}
	opts := []session.MessageOption{session.WithExtra(outputKey, items)}
	if len(calls) > 0 {
		opts = append(opts, session.WithExtra("tool_calls", calls))
	}
	return text, opts
}
