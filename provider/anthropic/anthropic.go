// Package anthropic turns a session into requests of Anthropic's Messages API, with the
// official SDK (github.com/anthropics/anthropic-sdk-go), and its answers back into the
// session, losslessly: an answer's content blocks (text, thinking with its signature,
// tool_use, and any block this package does not know) are kept as the message's Parts
// and sent back unchanged, as the API requires of a tool round with thinking.
//
// The conversions are pure functions over the SDK's own types: no network, no client.
//
//	system, messages := sessionanthropic.Request(s.Window(8000, count, session.KeepSystem()), stable)
//	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
//		Model: "claude-sonnet-4-5", MaxTokens: 1024, System: system, Messages: messages})
//	s = sessionanthropic.AppendMessage(s, *msg)
//
// This package is a module of its own, so that a program pulls only the SDK it uses.
package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/param"

	"github.com/exllm-go/session"
)

// MaxCacheMarkers is how many cache_control markers a request may carry.
const MaxCacheMarkers = 4

// Request returns window as the Messages API takes it: its leading system messages as
// the system prompt, and the rest as user and assistant messages that alternate.
//
//   - An answer appended by AppendMessage is sent as its content blocks, unchanged:
//     thinking blocks keep their signatures.
//   - An assistant message with OpenAI's tool_calls sends tool_use blocks, and "tool"
//     messages (tool_call_id) send tool_result blocks; consecutive results, and any
//     messages of one role in a row, go in one message.
//   - A system message after the first of another role is sent as user text.
//
// Cache markers (cache_control, ephemeral) go on the system prompt, on the last block of
// the stable prefix's last message (its first stable messages of window, which the
// previous request began with too: see session.StablePrefix), and on the last block of
// the last message, so that the next request, which repeats the window's beginning,
// finds a marked prefix within the API's lookback of 20 blocks. session.RepeatedPrefix
// gives stable for a chat's window; stable <= 0 places none there.
func Request(window []session.Message, stable int) ([]anthropic.TextBlockParam, []anthropic.MessageParam) {
	var system []anthropic.TextBlockParam
	i := 0
	for ; i < len(window) && window[i].Role == "system"; i++ {
		if window[i].Content != "" {
			system = append(system, anthropic.TextBlockParam{Text: window[i].Content})
		}
	}
	if n := len(system); n > 0 {
		system[n-1].CacheControl = anthropic.NewCacheControlEphemeralParam()
	}
	type turn struct {
		role   string
		blocks []map[string]any
		marked bool
	}
	var turns []turn
	for k, m := range window[i:] {
		role, blocks := blocksOf(m)
		if len(blocks) == 0 {
			continue
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
		} else {
			turns = append(turns, turn{role: role, blocks: blocks})
		}
		if i+k+1 == stable {
			turns[len(turns)-1].marked = true
		}
	}
	if len(turns) > 0 {
		turns[len(turns)-1].marked = true
	}
	messages := make([]anthropic.MessageParam, 0, len(turns))
	for _, t := range turns {
		if t.marked {
			last := cloneBlock(t.blocks[len(t.blocks)-1])
			last["cache_control"] = map[string]any{"type": "ephemeral"}
			t.blocks[len(t.blocks)-1] = last
		}
		data, _ := json.Marshal(map[string]any{"role": t.role, "content": t.blocks}) // JSON values only
		messages = append(messages, param.Override[anthropic.MessageParam](json.RawMessage(data)))
	}
	return system, messages
}

// blocksOf returns the role and the content blocks of m as the Messages API takes them.
func blocksOf(m session.Message) (string, []map[string]any) {
	switch {
	case m.Role == "tool":
		id, _ := m.Extra["tool_call_id"].(string)
		return "user", []map[string]any{{"type": "tool_result", "tool_use_id": id, "content": m.Content}}
	case m.Role == "assistant" && isBlocks(m.Parts):
		return "assistant", sendable(m.Parts)
	case m.Role == "assistant":
		var blocks []map[string]any
		if m.Content != "" {
			blocks = append(blocks, map[string]any{"type": "text", "text": m.Content})
		}
		for _, c := range m.ToolCalls() {
			var input any = map[string]any{}
			if strings.TrimSpace(c.Arguments) != "" && json.Unmarshal([]byte(c.Arguments), &input) != nil {
				input = map[string]any{"arguments": c.Arguments}
			}
			blocks = append(blocks, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": input})
		}
		return "assistant", blocks
	case isBlocks(m.Parts):
		return "user", sendable(m.Parts)
	case m.Parts != nil:
		return "user", fromOpenAIParts(m.Parts)
	case m.Content == "":
		return "user", nil
	}
	return "user", []map[string]any{{"type": "text", "text": m.Content}}
}

// isBlocks reports whether parts are Anthropic content blocks: a type OpenAI's content
// parts do not have.
func isBlocks(parts []map[string]any) bool {
	for _, p := range parts {
		switch p["type"] {
		case "text", "image_url", "input_audio", "file", "refusal":
		default:
			return true
		}
	}
	return false
}

// sendable returns blocks as a request takes them: without the null fields of a
// response's blocks.
func sendable(blocks []map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(blocks))
	for _, b := range blocks {
		c := cloneBlock(b)
		for k, v := range c {
			if v == nil {
				delete(c, k)
			}
		}
		out = append(out, c)
	}
	return out
}

// fromOpenAIParts returns OpenAI's content parts as Anthropic's blocks: text, and
// images by URL or as base64 data.
func fromOpenAIParts(parts []map[string]any) []map[string]any {
	var out []map[string]any
	for _, p := range parts {
		switch p["type"] {
		case "text":
			out = append(out, map[string]any{"type": "text", "text": p["text"]})
		case "image_url":
			img, _ := p["image_url"].(map[string]any)
			url, _ := img["url"].(string)
			if media, data, ok := dataURL(url); ok {
				out = append(out, map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": media, "data": data}})
			} else {
				out = append(out, map[string]any{"type": "image", "source": map[string]any{"type": "url", "url": url}})
			}
		}
	}
	return out
}

// dataURL splits a data: URL of base64 data into its media type and data.
func dataURL(url string) (media, data string, ok bool) {
	rest, found := strings.CutPrefix(url, "data:")
	if !found {
		return "", "", false
	}
	head, data, found := strings.Cut(rest, ",")
	media, found2 := strings.CutSuffix(head, ";base64")
	return media, data, found && found2
}

func cloneBlock(b map[string]any) map[string]any {
	c := make(map[string]any, len(b)+1)
	for k, v := range b {
		c[k] = v
	}
	return c
}

// Usage returns u as the session counts tokens. Anthropic's input_tokens leaves out the
// tokens read from and written to the prompt cache; InputTokens counts all the input,
// as the session's TokenUsage means it: input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens, of which CacheReadTokens and CacheWriteTokens are the
// cached ones. OutputTokens is output_tokens, thinking included; ReasoningTokens the
// thinking tokens Anthropic reports of them, if it does.
func Usage(u anthropic.Usage) session.TokenUsage {
	return session.TokenUsage{
		InputTokens:      int(u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens),
		OutputTokens:     int(u.OutputTokens),
		CacheReadTokens:  int(u.CacheReadInputTokens),
		CacheWriteTokens: int(u.CacheCreationInputTokens),
		ReasoningTokens:  int(u.OutputTokensDetails.ThinkingTokens),
	}
}

// AppendMessage returns s with m, an answer of the Messages API, appended (see Answer),
// with m's usage (see Usage) added to the message and to the session's totals.
func AppendMessage(s session.Session, m anthropic.Message) session.Session {
	content, opts := Answer(m)
	return s.AddMessage("assistant", content, append(opts, session.WithUsage(Usage(m.Usage)))...)
}

// Answer returns the content and the options of the assistant message that records m,
// without its usage: the text of its text blocks, its content blocks as the API gave
// them as Parts (thinking blocks with their signatures, tool_use, blocks this package
// does not know), and its stop_reason in Extra.
func Answer(m anthropic.Message) (string, []session.MessageOption) {
	var texts []string
	parts := make([]map[string]any, 0, len(m.Content))
	for _, b := range m.Content {
		var block map[string]any
		if json.Unmarshal([]byte(b.RawJSON()), &block) != nil || block == nil {
			continue
		}
		parts = append(parts, block)
		if b.Type == "text" {
			texts = append(texts, b.Text)
		}
	}
	var opts []session.MessageOption
	if len(parts) > 0 {
		opts = append(opts, session.WithParts(parts...))
	}
	if m.StopReason != "" {
		opts = append(opts, session.WithExtra("stop_reason", string(m.StopReason)))
	}
	return strings.Join(texts, "\n"), opts
}

// ToolResult returns s with the result of the tool call id appended, as a "tool"
// message that Request sends as a tool_result block.
func ToolResult(s session.Session, id, result string) session.Session {
	return s.AddMessage("tool", result, session.WithExtra("tool_call_id", id))
}
