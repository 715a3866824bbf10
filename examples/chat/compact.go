package main

import (
	"context"
	"fmt"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/llm"
)

// windowOptions choose what the model is sent: the leading system messages, the summary,
// and a window that keeps its beginning from turn to turn, for the provider's prompt
// cache.
var windowOptions = []session.WindowOption{session.KeepSystem(), session.StablePrefix()}

// overflows reports whether the window of s leaves out messages that no summary covers.
func (c *chat) overflows(s session.Session) bool {
	window := s.Window(c.window, c.model.Count, windowOptions...)
	sent := 0 // the messages of the window after the system messages and the summary
	for _, m := range window {
		if m.Role != "system" && m.Extra["summary_through"] == nil {
			sent++
		}
	}
	_, through := s.Summary()
	system := leadingSystem(s)
	return sent < s.Len()-max(through, system)
}

// compact folds the messages that do not fit in half the window into the session's
// summary, asking the model for it, and counts the call's tokens in the session's usage.
// forced says that the user asked (/compact), who is told when there is nothing to fold.
func (c *chat) compact(ctx context.Context, s session.Session, forced bool) (session.Session, error) {
	previous, through := s.Summary()
	system := leadingSystem(s)
	from := max(through, system)
	cut := s.SummaryPoint(c.window/2, c.model.Count)
	if forced {
		// Everything but the last turn's messages, when the user asks.
		for i, m := range s.Backward() {
			if m.Role == "user" {
				cut = i
				break
			}
		}
		cut = max(cut, from)
	}
	if cut <= from {
		if forced {
			fmt.Fprintln(c.out, "Nothing to compact: the messages since the last summary are all of the last turn.")
		}
		return s, nil
	}
	a, err := llm.Summarize(ctx, c.model, previous, s.Slice(from, cut))
	if err != nil {
		return s, fmt.Errorf("summarizing the first %s: %w", plural(cut, "message"), err)
	}
	s = s.Summarize(cut, a.Text).UpdateTokenUsage(a.Usage)
	if a.Estimated {
		s = withEstimate(s, a.Usage)
	}
	what := "a summary"
	if _, local := c.model.(llm.Local); local {
		what = "a plain extract (the local responder makes no summaries)"
	}
	fmt.Fprintf(c.out, "  [%s of %s replaces them in the model's window; they stay in the session (/summary shows it)]\n",
		what, plural(cut-from, "earlier message"))
	return s, nil
}

// leadingSystem returns how many system messages begin s: the instructions Window's
// KeepSystem always sends, which no summary folds in.
func leadingSystem(s session.Session) int {
	n := 0
	for n < s.Len() && s.MessageAt(n).Role == "system" {
		n++
	}
	return n
}
