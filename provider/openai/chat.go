package openai

import (
	"encoding/json"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"

	"github.com/exllm-go/session"
)

// chatKeys are the fields of a Chat Completions message besides its role and content:
// those of a message's Extra that Messages sends. The others (a chat's own marks, the
// reasoning_content of some compatible servers, a summary's summary_through) stay in the
// session and are not sent: OpenAI refuses fields it does not know.
var chatKeys = map[string]bool{
	"name": true, "tool_calls": true, "tool_call_id": true, "refusal": true,
	"function_call": true, "audio": true,
}

// Messages returns window as Chat Completions messages: each message's role, its
// content (its text, or its Parts as they were given or received), and the fields of
// its Extra that the API takes (tool_calls, tool_call_id, name, refusal, audio), as
// they were written, so that an answer appended by AppendCompletion is sent back as the
// model gave it. A message whose Extra holds a value with no JSON encoding, which a
// Session never holds, is sent without that value.
func Messages(window []session.Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(window))
	for _, m := range window {
		out = append(out, Message(m))
	}
	return out
}

// Message returns m as a Chat Completions message: see Messages.
func Message(m session.Message) openai.ChatCompletionMessageParamUnion {
	fields := make(map[string]any, 2+len(m.Extra))
	for key, v := range m.Extra {
		if chatKeys[key] {
			fields[key] = v
		}
	}
	fields["role"] = m.Role
	switch {
	case m.Parts != nil:
		fields["content"] = m.Parts
	case m.Content == "" && m.Role == "assistant" && fields["tool_calls"] != nil:
		fields["content"] = nil // a call alone: the API takes null content
	default:
		fields["content"] = m.Content
	}
	data, err := json.Marshal(fields)
	if err != nil {
		delete(fields, "tool_calls") // unreachable for a Session's values: JSON values only
		data, _ = json.Marshal(fields)
	}
	return param.Override[openai.ChatCompletionMessageParamUnion](json.RawMessage(data))
}

// PromptCacheKey returns the key that routes a session's requests to the same prompt
// cache: its ID. OpenAI caches a prompt's prefix by its beginning and this key, so that
// requests of one conversation, whose windows begin alike (session.StablePrefix), are
// served from the cache, and those of other conversations do not crowd it out.
func PromptCacheKey(s session.Session) string { return s.ID() }

// Usage returns u as the session counts tokens: InputTokens is prompt_tokens (cached
// ones included, as OpenAI counts them), CacheReadTokens its cached_tokens, OutputTokens
// completion_tokens and ReasoningTokens its reasoning_tokens. OpenAI reports no cache
// writes.
func Usage(u openai.CompletionUsage) session.TokenUsage {
	return session.TokenUsage{
		InputTokens:     int(u.PromptTokens),
		OutputTokens:    int(u.CompletionTokens),
		CacheReadTokens: int(u.PromptTokensDetails.CachedTokens),
		ReasoningTokens: int(u.CompletionTokensDetails.ReasoningTokens),
	}
}

// AppendCompletion returns s with the answer of c's first choice appended (see
// CompletionAnswer), with c's usage (see Usage) added to the message and to the
// session's totals. A completion with no choice appends nothing but its usage.
func AppendCompletion(s session.Session, c openai.ChatCompletion) session.Session {
	u := Usage(c.Usage)
	if len(c.Choices) == 0 {
		return s.UpdateTokenUsage(u)
	}
	content, opts := CompletionAnswer(c)
	return s.AddMessage("assistant", content, append(opts, session.WithUsage(u))...)
}

// CompletionAnswer returns the content and the options of the assistant message that
// records the answer of c's first choice, without its usage: its text, its tool calls
// (id, type, function name and arguments) and its refusal, as the model gave them, and
// what the SDK does not know (a compatible server's reasoning_content), kept but not
// sent back.
func CompletionAnswer(c openai.ChatCompletion) (string, []session.MessageOption) {
	if len(c.Choices) == 0 {
		return "", nil
	}
	msg := c.Choices[0].Message
	var opts []session.MessageOption
	if len(msg.ToolCalls) > 0 {
		calls := make([]any, 0, len(msg.ToolCalls))
		for _, tc := range msg.ToolCalls {
			calls = append(calls, map[string]any{
				"id": tc.ID, "type": "function",
				"function": map[string]any{"name": tc.Function.Name, "arguments": tc.Function.Arguments},
			})
		}
		opts = append(opts, session.WithExtra("tool_calls", calls))
	}
	if msg.Refusal != "" {
		opts = append(opts, session.WithExtra("refusal", msg.Refusal))
	}
	for key, f := range msg.JSON.ExtraFields {
		var v any
		if raw := f.Raw(); raw != "" && json.Unmarshal([]byte(raw), &v) == nil {
			opts = append(opts, session.WithExtra(key, v))
		}
	}
	return msg.Content, opts
}
