package session_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/exllm-go/session"
)

// A replay is a chat that grows turn by turn, as a model sees it: each turn a question,
// in tool-heavy replays often a tool call and its result, and an answer, with a request
// to the model before each answer or call. Each request sends a window of the session;
// the replay tallies what the provider's prompt cache would serve: the tokens at the
// beginning of a request that repeat the previous request's beginning.

// replayShapes are the kinds of conversation replayed.
var replayShapes = []string{"tool-heavy", "chatty", "long-results"}

// replayConfig is how a replay chooses its windows.
type replayConfig struct {
	budget    int
	stable    bool // StablePrefix
	summarize bool // fold what falls out of the window into a rolling summary
}

// replayStats are the tallies of a replay.
type replayStats struct {
	requests, turns int
	input, repeated int // tokens sent, and of those, a repeated prefix
	maxWindow       int
	summaries       int
	summaryInput    int // tokens sent to make summaries (not in input)
	openAI, claude  float64
}

// Example prices per million tokens: OpenAI's gpt-4o (cached input at half price) and
// Anthropic's Claude Sonnet (cache reads at a tenth, writes at 1.25 times the input).
var (
	openAIPrice = session.Price{Input: 2.50, CacheRead: 1.25, Output: 10}
	claudePrice = session.Price{Input: 3.00, CacheRead: 0.30, CacheWrite: 3.75, Output: 15}
)

func (st replayStats) share() float64      { return float64(st.repeated) / float64(st.input) }
func (st replayStats) meanWindow() float64 { return float64(st.input) / float64(st.requests) }

// text returns n bytes of words.
func text(r *rand.Rand, n int) string {
	words := []string{"the", "session", "keeps", "a", "window", "of", "tokens", "model", "cache", "prefix", "tool", "result"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

// replay plays turns of the given shape, calling check with each window and the session
// it was chosen from.
func replay(shape string, turns int, seed uint64, cfg replayConfig, check func(s session.Session, w []session.Message)) replayStats {
	r := rand.New(rand.NewPCG(seed, 11))
	s := session.New("openai").AddMessage("system", "You are a helpful assistant. "+text(r, 400), session.WithExtra("seq", 0))
	seq := 1
	add := func(role, content string, extra map[string]any) {
		opts := []session.MessageOption{session.WithExtra("seq", seq)}
		for k, v := range extra {
			opts = append(opts, session.WithExtra(k, v))
		}
		s = s.AddMessage(role, content, opts...)
		seq++
	}
	opts := []session.WindowOption{session.KeepSystem()}
	if cfg.stable {
		opts = append(opts, session.StablePrefix())
	}
	var st replayStats
	var previous []session.Message
	request := func() {
		if cfg.summarize {
			s = foldIn(s, cfg.budget, opts, &st)
		}
		w := s.Window(cfg.budget, nil, opts...)
		if check != nil {
			check(s, w)
		}
		tokens, repeated := 0, 0
		same := true
		for i, m := range w {
			c := session.EstimateTokens(m)
			tokens += c
			if same && i < len(previous) && previous[i].Equal(m) {
				repeated += c
			} else {
				same = false
			}
		}
		st.requests++
		st.input += tokens
		st.repeated += repeated
		st.maxWindow = max(st.maxWindow, tokens)
		st.openAI += session.TokenUsage{InputTokens: tokens, CacheReadTokens: repeated}.Cost(openAIPrice)
		st.claude += session.TokenUsage{InputTokens: tokens, CacheReadTokens: repeated, CacheWriteTokens: tokens - repeated}.Cost(claudePrice)
		previous = w
	}
	for turn := range turns {
		st.turns++
		add("user", text(r, 40+r.IntN(300)), nil)
		request()
		calls := 0
		switch shape {
		case "tool-heavy":
			calls = r.IntN(3)
		case "long-results":
			calls = r.IntN(2)
		}
		for c := range calls {
			id := fmt.Sprintf("call_%d_%d", turn, c)
			add("assistant", "", map[string]any{"tool_calls": []any{map[string]any{"id": id, "type": "function",
				"function": map[string]any{"name": "search", "arguments": `{"q":"` + text(r, 20) + `"}`}}}})
			size := 200 + r.IntN(1500)
			if shape == "long-results" {
				size = 2000 + r.IntN(8000)
			}
			add("tool", text(r, size), map[string]any{"tool_call_id": id})
			request()
		}
		add("assistant", text(r, 100+r.IntN(900)), nil)
	}
	return st
}

// foldIn summarizes, as a chat would, the messages that the window would leave out and
// no summary covers yet, keeping half the budget of recent messages; the summary's text
// is a stand-in of 300 tokens.
func foldIn(s session.Session, budget int, opts []session.WindowOption, st *replayStats) session.Session {
	w := s.Window(budget, nil, opts...)
	_, through := s.Summary()
	firstSent := s.Len()
	for _, m := range w {
		if m.Role != "system" && m.Extra["summary_through"] == nil {
			n, _ := m.Extra["seq"].(interface{ Int64() (int64, error) })
			if n != nil {
				v, _ := n.Int64()
				firstSent = int(v)
			}
			break
		}
	}
	if firstSent <= max(through, 1) {
		return s // nothing falls out that no summary covers
	}
	cut := s.SummaryPoint(budget/2, nil)
	if cut <= through {
		return s
	}
	prev, _ := s.Summary()
	in := session.EstimateTokens(session.Message{Role: "user", Content: prev})
	for _, m := range s.Slice(max(through, 1), cut) {
		in += session.EstimateTokens(m)
	}
	st.summaries++
	st.summaryInput += in
	// The summary's call, its input at full price: it repeats no request.
	st.openAI += session.TokenUsage{InputTokens: in}.Cost(openAIPrice)
	st.claude += session.TokenUsage{InputTokens: in}.Cost(claudePrice)
	return s.Summarize(cut, "Summary of the conversation so far: "+strings.Repeat("fact ", 240))
}

// BenchmarkReplay replays each shape for 220 turns with a budget of 8,000 tokens (counted
// with EstimateTokens) and reports, for the sliding window and for StablePrefix, with and
// without summaries: the share of input tokens that repeat the previous request's
// prefix, the mean window, and the input cost per 1,000 turns at the example prices, the
// repeated prefix priced as a cache read as OpenAI and Anthropic price it (and, for
// Anthropic, the rest as a cache write). A summary's own call is not in the input tokens
// (they are reported apart) but is in the cost, at the full input price.
//
//	go test -run '^$' -bench Replay -benchtime 1x .
func BenchmarkReplay(b *testing.B) {
	const budget, turns = 8000, 220
	for _, shape := range replayShapes {
		for _, summarize := range []bool{false, true} {
			for _, stable := range []bool{false, true} {
				name := fmt.Sprintf("%s/sliding/summaries=%v", shape, summarize)
				if stable {
					name = fmt.Sprintf("%s/stable/summaries=%v", shape, summarize)
				}
				b.Run(name, func(b *testing.B) {
					var st replayStats
					for b.Loop() {
						st = replay(shape, turns, 1, replayConfig{budget: budget, stable: stable, summarize: summarize}, nil)
					}
					b.ReportMetric(100*st.share(), "prefix-%")
					b.ReportMetric(st.meanWindow(), "window-tokens")
					b.ReportMetric(1000*st.openAI/float64(st.turns), "openai-$/kturn")
					b.ReportMetric(1000*st.claude/float64(st.turns), "anthropic-$/kturn")
					b.ReportMetric(float64(st.summaryInput)/float64(st.turns), "summary-input/turn")
				})
			}
		}
	}
}
