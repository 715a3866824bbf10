package llm

import (
	"context"
	"fmt"
	"strings"

	"github.com/exllm-go/session"
)

// Local is the built-in responder: a deterministic answer that shows what it was sent,
// with no network and no API key. Its usage is an estimate (session.EstimateTokens).
type Local struct{}

// Name says that the local responder answers.
func (Local) Name() string { return "the local responder" }

// Count returns session.EstimateTokens(m).
func (Local) Count(m session.Message) int { return session.EstimateTokens(m) }

// Answer says what the last user message was, and how many of the user's messages the
// window holds.
func (Local) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	var first, last string
	turns := 0
	for _, m := range window {
		if m.Role == "user" {
			if turns == 0 {
				first = m.Content
			}
			last = m.Content
			turns++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You said %q.", last)
	if turns == 1 {
		fmt.Fprintf(&b, " It is the only question I was sent")
	} else {
		fmt.Fprintf(&b, " I was sent %d of your messages; the oldest I see is %q", turns, first)
	}
	if len(window) == 1 {
		b.WriteString(" (1 message in all).")
	} else {
		fmt.Fprintf(&b, " (%d messages in all).", len(window))
	}
	text := b.String()
	onText(text)
	u := session.TokenUsage{OutputTokens: session.EstimateTokens(session.Message{Role: "assistant", Content: text})}
	for _, m := range window {
		u.InputTokens += session.EstimateTokens(m)
	}
	return Answer{Text: text, Content: text, Usage: u, Estimated: true}, ctx.Err()
}
