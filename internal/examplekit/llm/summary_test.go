package llm

import (
	"strings"
	"testing"

	"github.com/exllm-go/session"
)

// TestSummaryRequestWritesJSON: tool calls and parts go into a summary request as JSON,
// not as Go's syntax.
func TestSummaryRequestWritesJSON(t *testing.T) {
	calls := []any{map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "f", "arguments": "{}"}}}
	s := session.New("").AddMessage("assistant", "", session.WithExtra("tool_calls", calls)).
		AddMessage("user", "", session.WithParts(map[string]any{"type": "image_url", "image_url": map[string]any{"url": "u"}}))
	req := SummaryRequest("", s.GetMessages(0))
	text := req[1].Content
	for _, want := range []string{`[calls tools: [{"function":{"arguments":"{}","name":"f"},"id":"c1","type":"function"}]]`, `user: [{"image_url":{"url":"u"},"type":"image_url"}]`} {
		if !strings.Contains(text, want) {
			t.Errorf("the request does not hold %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "map[") {
		t.Errorf("Go's syntax in the request:\n%s", text)
	}
}
