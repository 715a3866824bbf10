package session

import "slices"

// A WindowOption changes how Window chooses messages.
type WindowOption func(*windowConfig)

type windowConfig struct {
	keepSystem bool
}

// KeepSystem makes Window always keep the session's leading "system" messages (the
// instructions before the first other message) and count them first; the rest of the
// budget goes to the most recent messages.
func KeepSystem() WindowOption {
	return func(c *windowConfig) { c.keepSystem = true }
}

// Window returns the most recent messages whose token counts, by count, add up to at
// most budget, oldest first: the history to send a model whose context window holds
// budget tokens. The session is unchanged.
//
// The window never splits a tool call from its results. It never begins with a "tool"
// message, nor with any message that answers a tool call (one with a "tool_call_id" or
// "tool_use_id" field) unless the message that made the call is in the window too: the
// one whose "tool_calls", or other extra fields, carry that call's id. An assistant
// message and all its results, parallel calls included, are kept or dropped as one group;
// where keeping a group would exceed the budget, the group is dropped and the window
// starts after it. A result whose call is not in the session at all is never sent.
//
// With KeepSystem, the leading system messages are counted first and always begin the
// window; if they alone exceed the budget, Window returns no messages at all, rather
// than part of the instructions.
//
// count is called at most once for each message examined, and Window examines about as
// many messages as it returns, however long the session. A negative count counts as 0;
// a nil count is EstimateTokens, the count for callers without the model's tokenizer. A
// negative budget gives no messages.
func (s Session) Window(budget int, count func(Message) int, opts ...WindowOption) []Message {
	var cfg windowConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	if budget < 0 {
		return []Message{}
	}
	if count == nil {
		count = EstimateTokens
	}
	msgs := s.messages.view()
	measure := func(m Message) int { return max(count(m), 0) }

	system := 0 // the leading system messages kept, msgs[:system]
	used := 0
	if cfg.keepSystem {
		for system < len(msgs) && msgs[system].Role == "system" {
			used += measure(msgs[system])
			system++
		}
		if used > budget {
			return []Message{}
		}
	}

	// The window's other messages are msgs[start:]; grow it one group at a time.
	start := len(msgs)
	for start > system {
		groupStart, cost, ok := toolGroup(msgs[system:start], budget-used, measure)
		if !ok {
			break
		}
		used += cost
		start = system + groupStart
	}

	out := make([]Message, 0, system+len(msgs)-start)
	for _, m := range msgs[:system] {
		out = append(out, m.clone())
	}
	for _, m := range msgs[start:] {
		out = append(out, m.clone())
	}
	return out
}

// toolGroup finds the group of messages that must enter a window together with the
// last message of msgs: that message alone, or, if it answers tool calls, everything
// back to the message that made the calls. It returns the index in msgs where the group
// starts and the group's cost, and false if the group costs more than budget or some
// call it answers has no caller in msgs. It measures each message it examines once.
func toolGroup(msgs []Message, budget int, measure func(Message) int) (start, cost int, ok bool) {
	var pending toolCalls
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if cost += measure(m); cost > budget {
			return 0, 0, false
		}
		pending.resolve(m)
		pending.add(m)
		if pending.empty() {
			return i, cost, true
		}
	}
	return 0, 0, false // an answer whose call is not in the session
}

// toolCalls are the calls answered by the messages of a group seen so far whose callers
// have not been seen yet.
type toolCalls struct {
	ids       []string
	anonymous bool // a "tool" message without an id, answered by the nearest "tool_calls"
}

func (p *toolCalls) empty() bool { return len(p.ids) == 0 && !p.anonymous }

// add records the calls m answers.
func (p *toolCalls) add(m Message) {
	before := len(p.ids)
	for key, v := range m.Extra {
		p.ids = appendAnswerIDs(p.ids, key, v)
	}
	if m.Role == "tool" && len(p.ids) == before {
		p.anonymous = true
	}
}

// resolve forgets the calls that m made.
func (p *toolCalls) resolve(m Message) {
	if p.empty() || len(m.Extra) == 0 {
		return
	}
	if p.anonymous {
		if calls, ok := m.Extra["tool_calls"].([]any); ok && len(calls) > 0 {
			p.anonymous = false
		}
	}
	for key, v := range m.Extra {
		if !isAnswerKey(key) {
			p.ids = removeCarried(p.ids, v)
		}
	}
}

func isAnswerKey(key string) bool { return key == "tool_call_id" || key == "tool_use_id" }

// appendAnswerIDs appends the ids of the calls that the field key: v answers: the
// value of a "tool_call_id" or "tool_use_id" at any depth (OpenAI's tool messages,
// Anthropic's tool_result blocks).
func appendAnswerIDs(ids []string, key string, v any) []string {
	switch v := v.(type) {
	case string:
		if isAnswerKey(key) && v != "" {
			ids = append(ids, v)
		}
	case map[string]any:
		for k, e := range v {
			ids = appendAnswerIDs(ids, k, e)
		}
	case []any:
		for _, e := range v {
			ids = appendAnswerIDs(ids, "", e)
		}
	}
	return ids
}

// removeCarried removes from ids every id that v carries as a string at any depth,
// outside answer fields.
func removeCarried(ids []string, v any) []string {
	switch v := v.(type) {
	case string:
		return slices.DeleteFunc(ids, func(id string) bool { return id == v })
	case map[string]any:
		for k, e := range v {
			if !isAnswerKey(k) {
				ids = removeCarried(ids, e)
			}
		}
	case []any:
		for _, e := range v {
			ids = removeCarried(ids, e)
		}
	}
	return ids
}

// EstimateTokens estimates the tokens m takes in a model's context, for callers with no
// tokenizer: about one token for every four bytes of UTF-8 in its role, content and
// extra fields (as JSON), plus four tokens for the message's framing. It is a heuristic
// for English-like text, never zero; a count from the model's own tokenizer, passed to
// Window as its count, is exact and this is not.
func EstimateTokens(m Message) int {
	const bytesPerToken, framing = 4, 4
	n := len(m.Role) + len(m.Content)
	if len(m.Extra) > 0 {
		if extra, err := appendObject(nil, m.Extra, ""); err == nil {
			n += len(extra)
		}
	}
	return framing + (n+bytesPerToken-1)/bytesPerToken
}
