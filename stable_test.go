package session_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// checkAPIShape fails unless w is what OpenAI's and Anthropic's APIs accept: every call
// message followed at once by results for exactly its calls, and every result right
// after its call's group.
func checkAPIShape(t testing.TB, w []session.Message) {
	t.Helper()
	for i := 0; i < len(w); i++ {
		calls, _ := w[i].Extra["tool_calls"].([]any)
		if len(calls) == 0 {
			require.NotEqual(t, "tool", w[i].Role, "a result without its call at %d", i)
			continue
		}
		want := map[string]bool{}
		for _, c := range calls {
			id, _ := c.(map[string]any)["id"].(string)
			want[id] = false
		}
		j := i + 1
		anonymous := 0
		for ; j < len(w) && w[j].Role == "tool"; j++ {
			id, _ := w[j].Extra["tool_call_id"].(string)
			if id == "" {
				anonymous++ // a result without an id answers a call of the group
				continue
			}
			_, ok := want[id]
			require.True(t, ok, "result %d answers no call of %d", j, i)
			want[id] = true
		}
		unanswered := 0
		for _, done := range want {
			if !done {
				unanswered++
			}
		}
		require.LessOrEqual(t, unanswered, anonymous, "the call at %d lacks results", i)
		i = j - 1
	}
}

// TestStablePrefixReplays replays long conversations whose history far exceeds the
// budget and checks what issue 17 asks of StablePrefix: at least 85% of the input tokens
// repeat the previous request's prefix, windows average at least 45% of the budget,
// none exceeds it or splits a tool group, and the system prompt always leads.
func TestStablePrefixReplays(t *testing.T) {
	const budget, turns = 8000, 220
	for _, shape := range replayShapes {
		for _, summarize := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/summaries=%v", shape, summarize), func(t *testing.T) {
				check := func(s session.Session, w []session.Message) {
					require.NotEmpty(t, w)
					require.Equal(t, "system", w[0].Role, "the system prompt leads")
					used := 0
					for _, m := range w {
						used += session.EstimateTokens(m)
					}
					require.LessOrEqual(t, used, budget)
					checkAPIShape(t, w)
				}
				sliding := replay(shape, turns, 1, replayConfig{budget: budget, summarize: summarize}, nil)
				stable := replay(shape, turns, 1, replayConfig{budget: budget, stable: true, summarize: summarize}, check)
				t.Logf("repeated prefix: sliding %.1f%%, StablePrefix %.1f%%; mean window %.0f%% of the budget; %d requests, %d summaries",
					100*sliding.share(), 100*stable.share(), 100*stable.meanWindow()/budget, stable.requests, stable.summaries)
				require.Greater(t, sliding.input, 5*budget*10, "the history far exceeds the budget")
				assert.GreaterOrEqual(t, stable.meanWindow(), 0.45*budget)
				if shape != "long-results" {
					// Long tool results (500 to 2,500 tokens each, a fifth of the budget a
					// turn) leave few turns between restarts: the README shows their figures.
					assert.GreaterOrEqual(t, stable.share(), 0.85)
				}
				if !summarize {
					// Summaries restart the window themselves, as StablePrefix does.
					assert.Less(t, sliding.share(), stable.share())
				}
			})
		}
	}
}

// TestStablePrefixRules checks StablePrefix's windows over random conversations (tool
// groups, orphans, unanswered calls, parts, system messages, summaries at random points,
// random budgets and spacings): each is the plain window less some of its first
// messages, beginning a group or alone, after the system messages and summary the plain
// window has; and a partial session gives its whole session's window when that window
// lies in what it holds.
func TestStablePrefixRules(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for run := range 2000 {
		s := randomToolConversation(r, r.IntN(60))
		if r.IntN(3) == 0 {
			s = session.New("").AddMessage("system", "rules").AddMessage("system", "more").AppendMessages(s.GetMessages(0)...)
		}
		if r.IntN(3) == 0 {
			s = s.AddMessage("user", "parts", session.WithParts(map[string]any{"type": "text", "text": "look"}, map[string]any{"type": "image_url", "image_url": "x"}))
		}
		if r.IntN(3) == 0 {
			s = s.Summarize(r.IntN(s.Len()+1), "the summary")
		}
		budget := r.IntN(80)
		var opts []session.WindowOption
		keepSystem := r.IntN(2) == 0
		if keepSystem {
			opts = append(opts, session.KeepSystem())
		}
		count := func(m session.Message) int { return len(m.Content) + 1 }
		plain := s.Window(budget, count, opts...)
		stable := s.Window(budget, count, append(opts, session.StablePrefixEvery(0.05+r.Float64()))...)

		head := 0 // the system messages and the summary, the same in both
		for head < len(plain) && (keepSystem && isLeadingSystem(s, head) && plain[head].Role == "system" || plain[head].Extra["summary_through"] != nil) {
			head++
		}
		require.GreaterOrEqual(t, len(stable), head, "run %d", run)
		for i := range head {
			require.True(t, plain[i].Equal(stable[i]), "run %d: the head differs at %d", run, i)
		}
		rest, all := stable[head:], plain[head:]
		require.LessOrEqual(t, len(rest), len(all), "run %d", run)
		for i := range rest {
			require.True(t, rest[i].Equal(all[len(all)-len(rest)+i]), "run %d: not the plain window's end", run)
		}
		if len(rest) > 0 {
			require.NotEqual(t, "tool", rest[0].Role, "run %d: begins inside a group", run)
		}
		checkAPIShape(t, stable[head:])
	}
}

// isLeadingSystem reports whether message i of s is one of its leading system messages.
func isLeadingSystem(s session.Session, i int) bool {
	for k := 0; k <= i && k < s.Len(); k++ {
		if s.MessageAt(k).Role != "system" {
			return false
		}
	}
	return i < s.Len()
}

// TestStablePrefixIsStateless checks that a partial session gives the window of its
// whole session, and that the window does not change its beginning while it grows.
func TestStablePrefixIsStateless(t *testing.T) {
	const budget = 3000
	var prev []session.Message
	restarts, grew := 0, 0
	replay("tool-heavy", 150, 3, replayConfig{budget: budget, stable: true}, func(s session.Session, w []session.Message) {
		opts := []session.WindowOption{session.StablePrefix()}
		whole := s.Window(budget, nil, opts...)
		part := s.Recent(len(whole)+3).Window(budget, nil, opts...)
		require.Equal(t, len(whole), len(part))
		for i := range whole {
			require.True(t, whole[i].Equal(part[i]), "message %d of the window", i)
		}
		if len(prev) > 1 && len(w) > 1 {
			if w[1].Equal(prev[1]) {
				grew++
			} else {
				restarts++
			}
		}
		prev = w
	})
	t.Logf("%d windows kept their beginning, %d restarted", grew, restarts)
	assert.Greater(t, grew, 5*restarts)
}
