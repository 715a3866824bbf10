package session

import "math"

// TokenUsage counts the tokens a conversation has used, as ExLLM's token_usage map.
type TokenUsage struct {
	InputTokens  int // tokens sent to the model (prompt)
	OutputTokens int // tokens the model generated (completion)
}

// Total returns InputTokens + OutputTokens, counting a negative field as zero and
// staying at math.MaxInt if the sum would overflow.
func (u TokenUsage) Total() int {
	return addTokens(max(u.InputTokens, 0), u.OutputTokens)
}

// UpdateTokenUsage returns s with u added to its running totals, as
// ExLLM.Session.update_token_usage.
//
// Token counts only grow: a negative count in u counts as zero, so that a faulty report
// cannot make a total negative, and a total that would overflow stays at math.MaxInt.
func (s Session) UpdateTokenUsage(u TokenUsage) Session {
	s.usage = TokenUsage{
		InputTokens:  addTokens(s.usage.InputTokens, u.InputTokens),
		OutputTokens: addTokens(s.usage.OutputTokens, u.OutputTokens),
	}
	return s.touched()
}

// TotalTokens returns the input plus output tokens used so far, as
// ExLLM.Session.total_tokens. It is never negative.
func (s Session) TotalTokens() int {
	return s.usage.Total()
}

// addTokens returns total + n, treating a negative n as zero and saturating at
// math.MaxInt. total is never negative.
func addTokens(total, n int) int {
	if n <= 0 {
		return total
	}
	if total > math.MaxInt-n {
		return math.MaxInt
	}
	return total + n
}
