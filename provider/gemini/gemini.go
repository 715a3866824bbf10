// Package gemini turns a session into requests of Google's Gemini API, with the
// official SDK (google.golang.org/genai), and its answers back into the session,
// losslessly: an answer's parts (text, thoughts, functionCall, and the thoughtSignature
// on the part that carried it) are kept as the message's Parts, in the API's JSON, and
// sent back unchanged, as the API requires of a function call with thinking.
//
// The conversions are pure functions over the SDK's own types: no network, no client.
//
//	system, contents := sessiongemini.Contents(s.Window(8000, count, session.KeepSystem()))
//	var acc sessiongemini.Accumulator
//	for chunk, err := range client.Models.GenerateContentStream(ctx, "gemini-2.5-flash", contents,
//		&genai.GenerateContentConfig{SystemInstruction: system}) {
//		...
//		acc.Add(chunk)
//	}
//	s = acc.AppendTo(s)
//
// This package is a module of its own, so that a program pulls only the SDK it uses.
package gemini

import (
	"encoding/json"
	"strings"

	"google.golang.org/genai"

	"github.com/exllm-go/session"
)

// Contents returns window as the Gemini API takes it: its leading system messages as
// the system instruction (nil without any), and the rest as user and model contents
// that alternate, consecutive messages of one role in one content.
//
//   - An answer appended by an Accumulator is sent as its parts, unchanged: a
//     thoughtSignature stays on the part that carried it.
//   - An assistant message with OpenAI's tool_calls sends functionCall parts, and a
//     "tool" message (tool_call_id) a functionResponse part, {"result": its content},
//     named after the call it answers.
//   - A system message after the first of another role is sent as user text.
func Contents(window []session.Message) (*genai.Content, []*genai.Content) {
	var system *genai.Content
	i := 0
	for ; i < len(window) && window[i].Role == "system"; i++ {
		if system == nil {
			system = &genai.Content{Role: "user"}
		}
		system.Parts = append(system.Parts, &genai.Part{Text: window[i].Content})
	}
	names := map[string]string{} // the names of the calls, by their IDs
	var contents []*genai.Content
	for _, m := range window[i:] {
		role, parts := partsOf(m, names)
		if len(parts) == 0 {
			continue
		}
		if n := len(contents); n > 0 && contents[n-1].Role == role {
			contents[n-1].Parts = append(contents[n-1].Parts, parts...)
		} else {
			contents = append(contents, &genai.Content{Role: role, Parts: parts})
		}
	}
	return system, contents
}

// partsOf returns the role and the parts of m as the Gemini API takes them, recording
// the names of the calls it makes in names.
func partsOf(m session.Message, names map[string]string) (string, []*genai.Part) {
	role := "user"
	if m.Role == "assistant" || m.Role == "model" {
		role = "model"
	}
	switch {
	case m.Role == "tool":
		id, _ := m.Extra["tool_call_id"].(string)
		name, _ := m.Extra["name"].(string)
		if name == "" {
			name = names[id]
		}
		return "user", []*genai.Part{{FunctionResponse: &genai.FunctionResponse{ID: id, Name: name, Response: map[string]any{"result": m.Content}}}}
	case isGeminiParts(m.Parts):
		var parts []*genai.Part
		for _, p := range m.Parts {
			data, err := json.Marshal(p)
			var part genai.Part
			if err == nil && json.Unmarshal(data, &part) == nil {
				parts = append(parts, &part)
				if part.FunctionCall != nil && part.FunctionCall.ID != "" {
					names[part.FunctionCall.ID] = part.FunctionCall.Name
				}
			}
		}
		return role, parts
	}
	var parts []*genai.Part
	if m.Parts != nil {
		for _, p := range m.Parts {
			if text, ok := p["text"].(string); ok && p["type"] == "text" {
				parts = append(parts, &genai.Part{Text: text})
			}
		}
	} else if m.Content != "" {
		parts = append(parts, &genai.Part{Text: m.Content})
	}
	for _, c := range m.ToolCalls() {
		var input map[string]any
		if strings.TrimSpace(c.Arguments) != "" && json.Unmarshal([]byte(c.Arguments), &input) != nil {
			input = map[string]any{"arguments": c.Arguments}
		}
		names[c.ID] = c.Name
		parts = append(parts, &genai.Part{FunctionCall: &genai.FunctionCall{ID: c.ID, Name: c.Name, Args: input}})
	}
	return role, parts
}

// isGeminiParts reports whether parts are Gemini's: parts with no "type", as OpenAI's
// and Anthropic's have.
func isGeminiParts(parts []map[string]any) bool {
	if len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		if _, ok := p["type"]; ok {
			return false
		}
	}
	return true
}

// Usage returns u as the session counts tokens: InputTokens is promptTokenCount, which
// counts the cached tokens, of which CacheReadTokens is cachedContentTokenCount;
// OutputTokens is candidatesTokenCount plus thoughtsTokenCount, since the candidates'
// count leaves the thoughts out, and ReasoningTokens is thoughtsTokenCount. A nil u
// counts nothing.
func Usage(u *genai.GenerateContentResponseUsageMetadata) session.TokenUsage {
	if u == nil {
		return session.TokenUsage{}
	}
	return session.TokenUsage{
		InputTokens:     int(u.PromptTokenCount),
		OutputTokens:    int(u.CandidatesTokenCount) + int(u.ThoughtsTokenCount),
		CacheReadTokens: int(u.CachedContentTokenCount),
		ReasoningTokens: int(u.ThoughtsTokenCount),
	}
}

// An Accumulator gathers the chunks of a streamed answer, or one whole answer, into
// the message that AppendTo appends. The zero Accumulator is empty and ready.
type Accumulator struct {
	parts  []*genai.Part
	usage  *genai.GenerateContentResponseUsageMetadata
	finish genai.FinishReason
}

// Add adds a chunk of the answer: its first candidate's parts, text after text of the
// same kind (thought or not) joined into one part unless a thoughtSignature comes
// between, and its usage, which replaces the last: every chunk repeats the running
// usage, so the last is the answer's, never the sum.
func (a *Accumulator) Add(chunk *genai.GenerateContentResponse) {
	if chunk == nil {
		return
	}
	if chunk.UsageMetadata != nil {
		a.usage = chunk.UsageMetadata
	}
	if len(chunk.Candidates) == 0 || chunk.Candidates[0] == nil {
		return
	}
	c := chunk.Candidates[0]
	if c.FinishReason != "" {
		a.finish = c.FinishReason
	}
	if c.Content == nil {
		return
	}
	for _, p := range c.Content.Parts {
		if p == nil {
			continue
		}
		if n := len(a.parts); n > 0 && joinable(a.parts[n-1], p) {
			last := *a.parts[n-1]
			last.Text += p.Text
			last.ThoughtSignature = p.ThoughtSignature
			a.parts[n-1] = &last
			continue
		}
		part := *p
		a.parts = append(a.parts, &part)
	}
}

// joinable reports whether p continues the text of last: both text alone, of the same
// kind, and last without a signature (a signature closes the part that carries it).
func joinable(last, p *genai.Part) bool {
	return last.Text != "" && textAlone(last) && textAlone(p) && last.Thought == p.Thought && len(last.ThoughtSignature) == 0
}

// textAlone reports whether p holds nothing but text, a thought flag and a signature,
// whatever fields the SDK adds.
func textAlone(p *genai.Part) bool {
	y := *p
	y.Text, y.Thought, y.ThoughtSignature = "", false, nil
	data, err := json.Marshal(&y)
	return err == nil && string(data) == "{}"
}

// AppendTo returns s with the answer appended (see Answer), with its usage (see Usage)
// added to the message and to the session's totals.
func (a *Accumulator) AppendTo(s session.Session) session.Session {
	content, opts := a.Answer()
	return s.AddMessage("assistant", content, append(opts, session.WithUsage(Usage(a.usage)))...)
}

// Usage returns the usage of the answer gathered so far (see Usage).
func (a *Accumulator) Usage() session.TokenUsage { return Usage(a.usage) }

// Answer returns the content and the options of the assistant message that records
// the answer gathered so far, without its usage. An answer of text alone is its
// content. Any other (thoughts, function calls, signatures) keeps its parts in the
// API's JSON as Parts (thoughtSignature on the part that carried it), and its content is
// then empty: a session's Content is the text of parts of type "text", which Gemini's
// parts do not have. The finish reason goes in Extra.
func (a *Accumulator) Answer() (string, []session.MessageOption) {
	var texts []string
	parts := make([]map[string]any, 0, len(a.parts))
	textOnly := true // an answer of text alone is recorded as its text: Content
	for _, p := range a.parts {
		textOnly = textOnly && p.Text != "" && !p.Thought && len(p.ThoughtSignature) == 0 && textAlone(p)
		data, err := json.Marshal(p)
		var m map[string]any
		if err != nil || json.Unmarshal(data, &m) != nil {
			continue
		}
		parts = append(parts, m)
		if p.Text != "" && !p.Thought {
			texts = append(texts, p.Text)
		}
	}
	var opts []session.MessageOption
	if len(parts) > 0 && !textOnly {
		opts = append(opts, session.WithParts(parts...))
	}
	if a.finish != "" {
		opts = append(opts, session.WithExtra("finish_reason", string(a.finish)))
	}
	return strings.Join(texts, ""), opts
}

// Calls returns the function calls of the answer gathered so far.
func (a *Accumulator) Calls() []*genai.FunctionCall {
	var calls []*genai.FunctionCall
	for _, p := range a.parts {
		if p.FunctionCall != nil {
			calls = append(calls, p.FunctionCall)
		}
	}
	return calls
}

// ToolResult returns s with the result of the call appended, as a "tool" message that
// Contents sends as a functionResponse part named after the call.
func ToolResult(s session.Session, call *genai.FunctionCall, result string) session.Session {
	opts := []session.MessageOption{session.WithExtra("name", call.Name)}
	if call.ID != "" { // without one, it answers the call before it
		opts = append(opts, session.WithExtra("tool_call_id", call.ID))
	}
	return s.AddMessage("tool", result, opts...)
}
