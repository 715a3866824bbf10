package session

// A WindowOption changes how [Session.Window] chooses messages. Only this package makes
// them; a nil one panics (see [NewOption] for how options are named).
type WindowOption interface{ applyWindow(*windowConfig) }

type windowOption func(*windowConfig)

func (f windowOption) applyWindow(c *windowConfig) { f(c) }

type windowConfig struct {
	keepSystem  bool
	stable      float64 // with StablePrefix, the spacing of its restarts, a fraction of the budget
	summaryRole string
}

// StablePrefix makes consecutive windows of a growing session begin alike, so that a
// provider's prompt cache, which bills the part of a request that repeats the previous
// request's beginning at a fraction of the price, keeps serving them. Without it, a full
// window slides one message at a time and changes its first message on every turn.
//
// With it, the window starts again further on only when the next message would not fit,
// and then at a restart point, so that it has room to grow again: the restart points are
// the messages at which the session's history, counted with EstimateTokens from its very
// first message, passes a multiple of half the budget (StablePrefixEvery chooses another
// fraction). The window starts at the first restart point at or after the message where
// the plain window would start, and not inside a tool group; after a restart it holds
// about half the budget, and grows to the budget before it restarts again. Every rule of
// Window holds: the budget is never exceeded (counted with count), tool calls and
// results are kept or left out together, KeepSystem's system messages and the summary
// come first.
//
// The restart points depend on the messages alone, not on the budget's history or any
// state: two processes, or a partial session (see [Session.FirstIndex]) and its whole session,
// give the same window. The estimated tokens of each message are computed once, and
// kept with the messages as their digests are, so it costs what Window costs.
func StablePrefix() WindowOption { return StablePrefixEvery(0.5) }

// StablePrefixEvery is StablePrefix with restart points every fraction of the budget
// (cut to between 0.05 and 1): a smaller fraction keeps windows fuller and restarts
// them more often, each restart a request whose history the cache has not seen.
func StablePrefixEvery(fraction float64) WindowOption {
	return windowOption(func(c *windowConfig) { c.stable = min(max(fraction, 0.05), 1) })
}

// SummaryAs sets the role of the message that stands for the session's summary in a
// window (see [Session.Summarize]): "user" by default, which every provider accepts anywhere in
// a conversation; "system" suits OpenAI's models, which read it as instructions, where
// Anthropic's API takes system text only apart from the messages.
func SummaryAs(role string) WindowOption {
	return windowOption(func(c *windowConfig) { c.summaryRole = role })
}

// KeepSystem makes Window always keep the session's leading "system" messages (the
// instructions before the first other message) and count them first; the rest of the
// budget goes to the most recent messages.
func KeepSystem() WindowOption {
	return windowOption(func(c *windowConfig) { c.keepSystem = true })
}

// Window returns the most recent messages whose token counts, by count, add up to at
// most budget, oldest first: the history to send a model whose context window holds
// budget tokens. The session is unchanged.
//
// The window holds only what OpenAI's and Anthropic's APIs accept: every tool call in
// it is followed at once by its results, and every result follows its call. A call is
// an entry of an assistant message's "tool_calls", a {"type": "tool_use"} block or a
// part with a "functionCall" (Gemini's), in its Parts or Extra fields; a result is a
// message with a "tool_call_id", a {"tool_use_id": ...} block or a "functionResponse"
// part, or a "tool" message without an id, which answers the call before it; a call or
// a result without an id pairs with one of the other side without. An assistant message with calls and the results right after it are kept or
// left out as one group. Window leaves out, and goes on past:
//   - a message whose calls are not all answered by the results right after it (the app
//     stopped between a call and its result, or Truncate cut them apart), with those
//     results, even if it also carries text;
//   - results whose call is not right before them (an orphan).
//
// Where a group or message would exceed the budget, the window starts after it.
//
// With KeepSystem, the leading system messages are counted first and always begin the
// window; if they alone exceed the budget, Window returns no messages at all, rather
// than part of the instructions.
//
// A summarized session (see [Session.Summarize]) sends, after the leading system messages it
// keeps, its summary as one message (role "user", or SummaryAs's, its content the
// summary's text, and Extra "summary_through", the index of the first message it does
// not cover), then the most recent messages from the summary's end on: never a message
// the summary covers, other than the leading system messages. If the summary does not
// fit, Window returns no messages, rather than the history without it.
//
// count is called at most once for each message examined, and Window examines about as
// many messages as it returns, however long the session, and never more than the
// session holds. count gets a copy of each message: changing it changes nothing else.
// A negative count counts as 0, and no sum overflows: counts that add up to more than
// math.MaxInt exceed any budget. A nil count is EstimateTokens, the count for callers without the model's
// tokenizer. A negative budget gives no messages.
func (s Session) Window(budget int, count func(Message) int, opts ...WindowOption) []Message {
	cfg := windowConfig{summaryRole: "user"}
	for _, opt := range opts {
		if opt == nil {
			panic("session: a nil WindowOption")
		}
		opt.applyWindow(&cfg)
	}
	if budget < 0 {
		return []Message{}
	}
	if count == nil {
		count = EstimateTokens
	}
	msgs, first := s.messages.view(), s.messages.first()
	measure := func(m Message) int {
		if m.mutable() {
			m = m.clone()
		}
		return max(count(m), 0)
	}

	system := 0 // the leading system messages kept that the log holds, msgs[:system]
	used := 0
	var before []Message // those before the messages a partial session holds
	if cfg.keepSystem {
		before = s.messages.system()
		for _, m := range before {
			c := measure(m)
			if c > budget-used {
				return []Message{}
			}
			used += c
		}
		// The run goes on into the messages held if it fills what comes before them.
		for len(before) == first && system < len(msgs) && msgs[system].Role == "system" {
			c := measure(msgs[system])
			if c > budget-used {
				return []Message{}
			}
			used += c
			system++
		}
	}
	lo := system // the first message the window may hold
	var summarized []Message
	if s.summary != nil {
		m := s.summaryMessage(cfg.summaryRole)
		c := max(count(m.clone()), 0)
		if c > budget-used {
			return []Message{}
		}
		used += c
		summarized = append(summarized, m)
		lo = min(max(lo, s.summary.through-first), len(msgs))
	}
	chosen := chooseRecent(msgs[lo:], budget-used, measure)
	if cfg.stable > 0 && len(chosen) > 0 {
		spacing := max(int(cfg.stable*float64(budget)), 1)
		chosen = s.messages.stableStart(msgs[lo:], lo, chosen, spacing)
	}

	out := make([]Message, 0, len(before)+system+len(summarized)+len(chosen))
	for _, m := range before {
		out = append(out, m.clone())
	}
	for _, m := range msgs[:system] {
		out = append(out, m.clone())
	}
	out = append(out, summarized...)
	for i := len(chosen) - 1; i >= 0; i-- {
		out = append(out, msgs[lo+chosen[i]].clone())
	}
	return out
}

// stableStart returns the messages of chosen, indexes in msgs of a window's messages,
// newest first, from the window's restart point on: see StablePrefix. msgs are the
// messages the window may hold, from held index lo of l, and spacing is the distance of
// two restart points in estimated tokens.
func (l messageLog) stableStart(msgs []Message, lo int, chosen []int, spacing int) []int {
	first := l.first()
	// T(i), the estimated tokens of the conversation before msgs[i].
	before := func(i int) (int, bool) { return l.tokensAt(first + lo + i) }
	// A restart point is a message at which the history passes a multiple of spacing,
	// or the first message the window may hold: after the leading system messages or the
	// summary (not the first that a partial session holds, which another load moves).
	restart := func(i int) (bool, bool) {
		if i == 0 && (first == 0 || lo > 0) {
			return true, true
		}
		t, ok := before(i)
		end, ok2 := before(i + 1) // a message's tokens are never 0: end > t
		if !ok || !ok2 {
			return false, false
		}
		return t%spacing == 0 || t/spacing != (end-1)/spacing, true
	}
	earliest := chosen[len(chosen)-1]
	at := earliest
	for ; at < len(msgs); at++ {
		is, ok := restart(at)
		if !ok {
			return chosen
		}
		if is {
			break
		}
	}
	// The first message of the window from the restart point on that begins a group
	// or stands alone: chosen holds whole groups, newest first.
	var ref toolRefs
	for k := len(chosen) - 1; k >= 0; k-- {
		i := chosen[k]
		if i < at {
			continue
		}
		if ref.of(msgs[i]); !ref.answers() {
			return chosen[:k+1]
		}
	}
	return chosen // no such message: the plain window
}

// chooseRecent returns the indexes in msgs of the messages of the window, newest first:
// see Window. It examines each message once, from the newest, and measures only those it
// may keep; the results of a run are examined again when the call before them is
// reached. It allocates only the indexes it returns, however long the runs of results.
func chooseRecent(msgs []Message, budget int, measure func(Message) int) []int {
	var chosen []int
	used := 0
	// take adds the messages [lo, hi) to the window, newest first, or reports false if
	// they do not fit.
	take := func(lo, hi int) bool {
		cost := 0
		for i := hi - 1; i >= lo; i-- {
			// Compared before adding, so that no sum can overflow.
			c := measure(msgs[i])
			if c > budget-used-cost {
				return false
			}
			cost += c
		}
		used += cost
		for i := hi - 1; i >= lo; i-- {
			chosen = append(chosen, i)
		}
		return true
	}
	runEnd := -1 // results seen since the last other message are msgs[i+1:runEnd]
	var ref, result toolRefs
	for i := len(msgs) - 1; i >= 0; i-- {
		ref.of(msgs[i])
		switch {
		case ref.answers():
			if ref.calls() { // answers and calls at once: no API has such a message
				runEnd = -1
				continue
			}
			if runEnd < 0 {
				runEnd = i + 1
			}
		case ref.calls():
			if runEnd > i+1 && ref.answeredBy(msgs[i+1:runEnd], &result) && !take(i, runEnd) {
				return chosen
			}
			runEnd = -1
		default:
			runEnd = -1 // orphans
			if !take(i, i+1) {
				return chosen
			}
		}
	}
	return chosen
}

// toolRefs are the tool calls a message makes and answers.
type toolRefs struct {
	callIDs         []string
	anonymousCalls  int // entries of tool_calls without an id
	answerIDs       []string
	anonymousAnswer bool // a "tool" message without an id
}

func (r toolRefs) calls() bool   { return len(r.callIDs) > 0 || r.anonymousCalls > 0 }
func (r toolRefs) answers() bool { return len(r.answerIDs) > 0 || r.anonymousAnswer }

// answeredBy reports whether results, the messages right after r's, answer all the
// calls of r and nothing else; scratch is storage for their references.
func (r toolRefs) answeredBy(results []Message, scratch *toolRefs) bool {
	calls := make(map[string]bool, len(r.callIDs))
	for _, id := range r.callIDs {
		calls[id] = false
	}
	anonymous := 0
	for _, m := range results {
		scratch.of(m)
		for _, id := range scratch.answerIDs {
			if _, ok := calls[id]; !ok {
				return false // a result for a call this message did not make
			}
			calls[id] = true
		}
		if scratch.anonymousAnswer {
			anonymous++
		}
	}
	unanswered := r.anonymousCalls
	for _, done := range calls {
		if !done {
			unanswered++
		}
	}
	return unanswered <= anonymous
}

// of sets r to the calls m makes (OpenAI's tool_calls, Anthropic's tool_use blocks) and
// the calls it answers (tool_call_id, tool_result blocks' tool_use_id), reusing r's
// storage.
func (r *toolRefs) of(m Message) {
	*r = toolRefs{callIDs: r.callIDs[:0], answerIDs: r.answerIDs[:0]}
	if calls, ok := m.Extra["tool_calls"].([]any); ok {
		for _, c := range calls {
			if id, ok := stringField(c, "id"); ok {
				r.callIDs = append(r.callIDs, id)
			} else {
				r.anonymousCalls++
			}
		}
	}
	for key, v := range m.Extra {
		if key != "tool_calls" {
			r.scan(key, v)
		}
	}
	for _, p := range m.Parts {
		r.scan("", p)
	}
	if kept := m.keptContent(); kept.ok {
		r.scan("", kept.value)
	}
	if m.Role == "tool" && len(r.answerIDs) == 0 {
		r.anonymousAnswer = true
	}
}

// scan records the ids that the field key: v carries at any depth: tool_use blocks'
// ids as calls, and tool_call_id and tool_use_id fields as answers.
func (r *toolRefs) scan(key string, v any) {
	switch v := v.(type) {
	case string:
		if (key == "tool_call_id" || key == "tool_use_id") && v != "" {
			r.answerIDs = append(r.answerIDs, v)
		}
	case map[string]any:
		switch key { // Gemini's parts: a call, or the response to one, with or without an id
		case "functionCall":
			if id, ok := stringField(v, "id"); ok {
				r.callIDs = append(r.callIDs, id)
			} else {
				r.anonymousCalls++
			}
		case "functionResponse":
			if id, ok := stringField(v, "id"); ok {
				r.answerIDs = append(r.answerIDs, id)
			} else {
				r.anonymousAnswer = true
			}
		}
		if v["type"] == "tool_use" {
			if id, ok := stringField(v, "id"); ok {
				r.callIDs = append(r.callIDs, id)
			}
		}
		for k, e := range v {
			r.scan(k, e)
		}
	case []any:
		for _, e := range v {
			r.scan("", e)
		}
	}
}

// stringField returns the non-empty string at v[key], if v is an object that has one.
func stringField(v any, key string) (string, bool) {
	m, _ := v.(map[string]any)
	s, ok := m[key].(string)
	return s, ok && s != ""
}

// EstimateTokens estimates the tokens m takes in a model's context, for callers with no
// tokenizer: about one token for every four bytes of UTF-8 in its role, its content (its
// parts as JSON, when it has parts) and its extra fields (as JSON), plus four tokens for
// the message's framing, counted as they are written (a byte that is not UTF-8 as U+FFFD),
// so that a message counts alike before it is saved and after it is loaded. It is a
// heuristic for English-like text, never zero; a count from the model's own tokenizer,
// passed to Window as its count, is exact and this is not.
func EstimateTokens(m Message) int {
	const bytesPerToken, framing = 4, 4
	n := writtenLen(m.Role) + writtenLen(m.Content)
	var content any // content that is not text, counted as JSON
	switch kept := m.keptContent(); {
	case m.Parts != nil:
		n -= writtenLen(m.Content) // the text of the parts, which their JSON holds
		content = m.Parts
	case kept.ok:
		content = kept.value
	}
	if content != nil {
		if data, err := appendValue(nil, content); err == nil {
			n += len(data)
		}
	}
	if len(m.Extra) > 0 {
		if extra, err := appendObject(nil, m.Extra); err == nil {
			n += len(extra)
		}
	}
	return framing + (n+bytesPerToken-1)/bytesPerToken
}

// writtenLen returns the length of s as it is written, each byte that is not UTF-8 as
// U+FFFD (see validUTF8), so that a message counts alike before it is saved and after it
// is loaded.
func writtenLen(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return len(validUTF8(s))
}

// RepeatedPrefix returns how many leading messages of window the request before it
// sent too, in a conversation that asks a model before each answer and sends windows
// that keep their beginning ([StablePrefix]): the messages before window's last answer
// (its last assistant message), which that request was answered by. A provider's prompt
// cache serves them to this request when that request marked its end: it is where a
// cache marker goes (Anthropic's cache_control), beside one on the last message.
// A window that restarted shares less with the request before; the marker then only
// costs a write.
func RepeatedPrefix(window []Message) int {
	for i := len(window) - 1; i >= 0; i-- {
		if window[i].Role == "assistant" {
			return i
		}
	}
	return 0
}
