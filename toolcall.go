package session

// ToolCall is a call of a tool that an assistant message makes, as OpenAI's Chat
// Completions write it in a message's "tool_calls": an ID, the function's name and its
// arguments as JSON text.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// ToolCalls returns the calls of m's "tool_calls" (see [WithExtra]), in order: the
// calls of an answer to run, or to convert to another provider's shape. An entry that
// is not an object, or a field that is not a string, gives "" for that field; m without
// tool_calls gives none.
func (m Message) ToolCalls() []ToolCall {
	entries, _ := m.Extra["tool_calls"].([]any)
	if len(entries) == 0 {
		return nil
	}
	calls := make([]ToolCall, 0, len(entries))
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		f, _ := entry["function"].(map[string]any)
		var c ToolCall
		c.ID, _ = entry["id"].(string)
		c.Name, _ = f["name"].(string)
		c.Arguments, _ = f["arguments"].(string)
		calls = append(calls, c)
	}
	return calls
}
