package session_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

func TestWithUsage(t *testing.T) {
	turn := session.TokenUsage{InputTokens: 2000, OutputTokens: 300, CacheReadTokens: 1500, ReasoningTokens: 200}
	s := session.New("openai").
		UpdateTokenUsage(session.TokenUsage{InputTokens: 1, OutputTokens: 1}).
		AddMessage("user", "What time is it?").
		AddMessage("assistant", "Noon.", session.WithUsage(turn), session.WithUsage(turn)) // the last one counts

	msgs := s.GetMessages(0)
	assert.Equal(t, session.TokenUsage{}, msgs[0].Usage())
	assert.Equal(t, turn, msgs[1].Usage())
	assert.Equal(t, session.TokenUsage{InputTokens: 2001, OutputTokens: 301, CacheReadTokens: 1500, ReasoningTokens: 200}, s.TokenUsage())

	data := string(must(s.ToJSON()))
	assert.Contains(t, data, `"role":"assistant","timestamp":"`)
	assert.Contains(t, data, `"token_usage":{"cache_read_tokens":1500,"input_tokens":2000,"output_tokens":300,"reasoning_tokens":200}}`)
	assert.Contains(t, data, `"token_usage":{"cache_read_tokens":1500,"input_tokens":2001,"output_tokens":301,"reasoning_tokens":200},"updated_at"`)
	back, err := session.FromJSON([]byte(data))
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
	assert.Equal(t, turn, back.GetMessages(1)[0].Usage())

	negative := session.New("").AddMessage("assistant", "x", session.WithUsage(session.TokenUsage{InputTokens: -5, OutputTokens: 3}))
	assert.Equal(t, session.TokenUsage{OutputTokens: 3}, negative.GetMessages(1)[0].Usage())
	assert.Equal(t, session.TokenUsage{OutputTokens: 3}, negative.TokenUsage())
}

// TestMessageTokenUsageKept checks that a message's token_usage that is not what
// WithUsage writes is kept as an extra field, as it was.
func TestMessageTokenUsageKept(t *testing.T) {
	for _, usage := range []string{
		`{"input_tokens":0,"output_tokens":0}`,
		`{"input_tokens":1}`,
		`{"input_tokens":1,"output_tokens":2,"reasoning_tokens":0}`,
		`{"input_tokens":1,"output_tokens":2,"total":3}`,
		`{"input_tokens":1.0,"output_tokens":2}`,
		`{"input_tokens":-1,"output_tokens":2}`,
		`{"input_tokens":99999999999999999999,"output_tokens":2}`,
		`"many"`,
		`null`,
	} {
		in := file(`{"content":"a","role":"assistant","timestamp":"2026-01-01T00:00:00.000000Z","token_usage":` + usage + `}`)
		s, out := reencoded(t, in)
		assert.Equal(t, in, out, usage)
		m := s.GetMessages(1)[0]
		assert.Equal(t, session.TokenUsage{}, m.Usage(), usage)
		assert.Contains(t, m.Extra, "token_usage", usage)
	}
}

func TestSessionTokenUsageKeys(t *testing.T) {
	s := session.New("").UpdateTokenUsage(session.TokenUsage{InputTokens: 5, CacheWriteTokens: 2})
	assert.Contains(t, string(must(s.ToJSON())), `"token_usage":{"cache_write_tokens":2,"input_tokens":5,"output_tokens":0}`,
		"new counts only when not zero")

	in := `{"context":{},"created_at":"2026-01-01T00:00:00.000000Z","id":"x","llm_backend":null,"messages":[],"name":null,` +
		`"token_usage":{"cache_read_tokens":0,"input_tokens":0,"output_tokens":0,"total_tokens":9},"updated_at":"2026-01-01T00:00:00.000000Z"}`
	_, out := reencoded(t, in)
	assert.Equal(t, in, out, "a zero count a file held, and unknown keys, are kept")
}

func TestCost(t *testing.T) {
	price := session.Price{Input: 3, CacheRead: 0.3, CacheWrite: 3.75, Output: 15}
	tests := []struct {
		name  string
		usage session.TokenUsage
		want  float64
	}{
		{"nothing", session.TokenUsage{}, 0},
		{"uncached", session.TokenUsage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 18},
		{"cache read", session.TokenUsage{InputTokens: 1_000_000, CacheReadTokens: 1_000_000}, 0.3},
		{"cache write", session.TokenUsage{InputTokens: 2_000_000, CacheWriteTokens: 1_000_000}, 6.75},
		{"reasoning is output", session.TokenUsage{OutputTokens: 1_000_000, ReasoningTokens: 900_000}, 15},
		{"more cached than input: none uncached", session.TokenUsage{InputTokens: 10, CacheReadTokens: 1_000_000}, 0.3},
		{"negative counts are zero", session.TokenUsage{InputTokens: -1_000_000, OutputTokens: -5}, 0},
		{"no overflow", session.TokenUsage{InputTokens: math.MaxInt, CacheReadTokens: math.MaxInt, CacheWriteTokens: math.MaxInt}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.usage.Cost(price)
			if tt.name == "no overflow" {
				assert.Greater(t, got, 0.0)
				return
			}
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestTruncate(t *testing.T) {
	long := grow(session.New("").UpdateTokenUsage(session.TokenUsage{InputTokens: 7}), "m", 10)
	short := long.Truncate(4)
	assert.Equal(t, []string{"m0", "m1", "m2", "m3"}, contents(short.GetMessages(0)))
	assert.Equal(t, 7, short.TokenUsage().InputTokens, "usage is kept")
	assert.True(t, short.UpdatedAt().After(long.UpdatedAt()))

	// Appending to the truncated session never overwrites what the longer one holds,
	// nor the other way round, from either side first.
	branch := short.AddMessage("user", "b4")
	longer := long.AddMessage("user", "m10")
	assert.Equal(t, []string{"m0", "m1", "m2", "m3", "b4"}, contents(branch.GetMessages(0)))
	assert.Equal(t, "m4", long.GetMessages(0)[4].Content)
	assert.Equal(t, "m10", longer.GetMessages(1)[0].Content)
	assert.Equal(t, 10, long.Len())

	assert.Equal(t, 0, long.Truncate(0).Len())
	assert.Equal(t, 0, long.Truncate(-3).Len())
	assert.True(t, long.Truncate(10).Equal(long), "nothing to cut: s itself")
	assert.True(t, long.Truncate(99).Equal(long))
	var zero session.Session
	assert.Equal(t, 0, zero.Truncate(1).Len())
}

func TestUpdatedAtAlwaysMovesOn(t *testing.T) {
	s := session.New("")
	for range 1000 {
		next := s.SetName("n")
		require.True(t, next.UpdatedAt().After(s.UpdatedAt()), "a change within a microsecond still moves UpdatedAt on")
		s = next.AddMessage("user", "x")
		require.True(t, s.UpdatedAt().After(next.UpdatedAt()))
	}
	// A session from a file whose clock ran ahead.
	future, err := session.FromJSON([]byte(`{"id":"x","created_at":"2999-01-01T00:00:00.123456789Z","updated_at":"2999-01-01T00:00:00.123456789Z"}`))
	require.NoError(t, err)
	next := future.AddMessage("user", "x")
	assert.True(t, next.UpdatedAt().After(future.UpdatedAt()))
	assert.Equal(t, 0, next.UpdatedAt().Nanosecond()%1000)
}
