package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/exllm-go/session"
)

// SummaryInstructions is the system message of a summary request: what the model is
// asked to write, and how.
const SummaryInstructions = `You summarize a conversation between a user and an assistant, for the assistant to go on with it without the messages you summarize. Write a concise summary in plain prose: the facts, names, numbers, decisions, results of tools and open questions that matter later, and what the user wants. Leave out greetings and anything said twice. If a previous summary is given, fold it in: your summary replaces it. Answer with the summary alone.`

// SummaryRequest returns the messages of a summary request: SummaryInstructions, then
// one user message with the previous summary, if any, and the messages to fold in, one
// per line as "role: content", with tool calls and content parts as JSON.
func SummaryRequest(previous string, msgs []session.Message) []session.Message {
	var b strings.Builder
	if previous != "" {
		fmt.Fprintf(&b, "Previous summary:\n%s\n\n", previous)
	}
	b.WriteString("Messages to fold in:\n")
	for _, m := range msgs {
		content := m.Content
		if m.Parts != nil && content == "" {
			content = jsonText(m.Parts)
		}
		if calls, ok := m.Extra["tool_calls"]; ok {
			content = strings.TrimSpace(content + " [calls tools: " + jsonText(calls) + "]")
		}
		fmt.Fprintf(&b, "%s: %s\n", m.Role, content)
	}
	return []session.Message{{Role: "system", Content: SummaryInstructions}, {Role: "user", Content: b.String()}}
}

// jsonText returns v as JSON, as a summary request shows tool calls and parts.
func jsonText(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// LocalSummaryLabel begins the summaries of the local responder, which are no summary
// at all: an extract of the user's messages.
const LocalSummaryLabel = "[A plain extract by the local responder, not a model's summary.]"

// Summarize asks m for a summary of msgs, folding in previous: the model's answer to
// SummaryRequest. The local responder answers with a plain extract instead, labelled
// LocalSummaryLabel: the first line of each user message, 80 characters at most.
func Summarize(ctx context.Context, m Model, previous string, msgs []session.Message) (Answer, error) {
	if _, ok := m.(Local); ok {
		var b strings.Builder
		b.WriteString(LocalSummaryLabel)
		if previous != "" {
			b.WriteString(" Before: " + strings.TrimPrefix(previous, LocalSummaryLabel+" "))
		}
		for _, msg := range msgs {
			if msg.Role == "user" {
				line, _, _ := strings.Cut(msg.Content, "\n")
				if r := []rune(line); len(r) > 80 {
					line = string(r[:80]) + "..."
				}
				fmt.Fprintf(&b, " The user said: %q.", line)
			}
		}
		return Answer{Text: b.String(), Estimated: true}, ctx.Err()
	}
	a, err := m.Answer(WithPurpose(ctx, "summary"), SummaryRequest(previous, msgs), func(string) {})
	if err == nil && strings.TrimSpace(a.Text) == "" {
		err = fmt.Errorf("the model's summary is empty")
	}
	return a, err
}
