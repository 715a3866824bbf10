package session

import "math"

// TokenUsage counts the tokens of model calls, as ExLLM's token_usage map, with the
// counts that providers report beside input and output.
//
// Every provider's report maps onto it with one meaning: InputTokens counts all the
// input tokens, cached ones included, as OpenAI counts its prompt_tokens; CacheReadTokens
// and CacheWriteTokens say how many of those were read from or written to the provider's
// prompt cache; ReasoningTokens says how many of OutputTokens were reasoning. So for
// OpenAI, InputTokens is prompt_tokens and CacheReadTokens is
// prompt_tokens_details.cached_tokens; for Anthropic, whose input_tokens leaves cached
// tokens out, InputTokens is input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens (see the examples). Total and Cost rely on that meaning.
//
// Its JSON, with encoding/json, has the names a session file's token_usage has:
// input_tokens and output_tokens always, the others when they are not zero.
type TokenUsage struct {
	InputTokens      int `json:"input_tokens"`                 // all tokens sent to the model (prompt), cached ones included
	OutputTokens     int `json:"output_tokens"`                // tokens the model generated (completion), reasoning included
	CacheReadTokens  int `json:"cache_read_tokens,omitempty"`  // of InputTokens, those read from the prompt cache
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"` // of InputTokens, those written to the prompt cache
	ReasoningTokens  int `json:"reasoning_tokens,omitempty"`   // of OutputTokens, those the model spent reasoning
}

// Total returns InputTokens + OutputTokens, counting a negative field as zero and
// staying at math.MaxInt if the sum would overflow.
func (u TokenUsage) Total() int {
	return addTokens(max(u.InputTokens, 0), u.OutputTokens)
}

// IsZero reports whether u counts no tokens at all.
func (u TokenUsage) IsZero() bool { return u == TokenUsage{} }

// add returns u plus v, field by field, as UpdateTokenUsage adds them.
func (u TokenUsage) add(v TokenUsage) TokenUsage {
	return TokenUsage{
		InputTokens:      addTokens(u.InputTokens, v.InputTokens),
		OutputTokens:     addTokens(u.OutputTokens, v.OutputTokens),
		CacheReadTokens:  addTokens(u.CacheReadTokens, v.CacheReadTokens),
		CacheWriteTokens: addTokens(u.CacheWriteTokens, v.CacheWriteTokens),
		ReasoningTokens:  addTokens(u.ReasoningTokens, v.ReasoningTokens),
	}
}

// Price is what a model charges, in a currency of your choice per million tokens, for
// each kind of token: uncached input, input read from the cache, input written to the
// cache, and output (reasoning included). A zero price is free.
type Price struct {
	Input      float64
	CacheRead  float64
	CacheWrite float64
	Output     float64
}

// Cost returns what u costs at price p. Cached input is priced at its own rates and
// the rest of InputTokens at p.Input, so a usage recorded with the meanings of
// TokenUsage is priced right whichever provider reported it.
func (u TokenUsage) Cost(p Price) float64 {
	count := func(n int) float64 { return float64(max(n, 0)) }
	cacheRead, cacheWrite := count(u.CacheReadTokens), count(u.CacheWriteTokens)
	uncached := max(count(u.InputTokens)-cacheRead-cacheWrite, 0) // 0 if a report is faulty
	return (uncached*p.Input + cacheRead*p.CacheRead + cacheWrite*p.CacheWrite +
		count(u.OutputTokens)*p.Output) / 1e6
}

// UpdateTokenUsage returns s with u added to its running totals, field by field, as
// ExLLM.Session.update_token_usage.
//
// Token counts only grow: a negative count in u counts as zero, so that a faulty report
// cannot make a total negative, and a total that would overflow stays at math.MaxInt.
func (s Session) UpdateTokenUsage(u TokenUsage) Session {
	s.usage = s.usage.add(u)
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

// usageFields are the keys of a token_usage object, sorted, and the count each holds.
// input_tokens and output_tokens are always written, as ExLLM writes them; the others
// only when they are not zero, or when the file read held them.
var usageFields = [...]struct {
	key    string
	always bool
	count  func(*TokenUsage) *int
}{
	{"cache_read_tokens", false, func(u *TokenUsage) *int { return &u.CacheReadTokens }},
	{"cache_write_tokens", false, func(u *TokenUsage) *int { return &u.CacheWriteTokens }},
	{"input_tokens", true, func(u *TokenUsage) *int { return &u.InputTokens }},
	{"output_tokens", true, func(u *TokenUsage) *int { return &u.OutputTokens }},
	{"reasoning_tokens", false, func(u *TokenUsage) *int { return &u.ReasoningTokens }},
}

// usageField returns the index in usageFields of key, or -1.
func usageField(key string) int {
	for i, f := range usageFields {
		if f.key == key {
			return i
		}
	}
	return -1
}

// usageKeySet is a set of indexes in usageFields.
type usageKeySet uint8

func (k usageKeySet) has(i int) bool { return k&(1<<i) != 0 }

// written returns the keys of usageFields that appendUsage writes for u, given the keys
// k a file held.
func (k usageKeySet) written(u TokenUsage) usageKeySet {
	var w usageKeySet
	for i, f := range usageFields {
		if f.always || k.has(i) || *f.count(&u) != 0 {
			w |= 1 << i
		}
	}
	return w
}

// keptUsage is a token_usage that a file held in a form the package would not write:
// missing, null, or with counts that are not whole numbers written in decimal (ExLLM
// adds whatever numbers update_token_usage is given: 1.5, -5). It is written back as it
// was while the session's usage is still what it was read as.
type keptUsage struct {
	form   usageForm
	counts [len(usageFields)]string // a count's number as the file wrote it; "" where written as the count
	at     TokenUsage               // the usage it was read as
}

// usageForm is how a file held token_usage.
type usageForm uint8

const (
	usageObject usageForm = iota
	usageMissing
	usageNull
)

// usageKept returns the form of token_usage that s writes instead of its own, or nil.
func (s Session) usageKept() *keptUsage {
	if s.keptUsage != nil && s.keptUsage.at == s.usage {
		return s.keptUsage
	}
	return nil
}

func (k *keptUsage) equal(l *keptUsage) bool {
	return k == l || (k != nil && l != nil && k.form == l.form && k.counts == l.counts)
}
