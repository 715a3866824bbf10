package session_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/quick"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
)

// clock returns a function that checks that a time is in UTC and lies between the call
// to clock and the call to the function.
func clock(t *testing.T) func(ts time.Time) {
	before := time.Now().Truncate(time.Microsecond) // the precision sessions keep
	return func(ts time.Time) {
		t.Helper()
		after := time.Now().UTC()
		assert.Equal(t, time.UTC, ts.Location())
		assert.False(t, ts.Before(before), "%v is before %v", ts, before)
		assert.False(t, ts.After(after), "%v is after %v", ts, after)
	}
}

func contents(msgs []session.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content
	}
	return out
}

// grow returns s with messages "0", "1", ... added up to n messages in all.
func grow(s session.Session, prefix string, n int) session.Session {
	for i := s.Len(); i < n; i++ {
		s = s.AddMessage("user", fmt.Sprint(prefix, i))
	}
	return s
}

func TestNew(t *testing.T) {
	inTime := clock(t)
	s := session.New("anthropic")
	inTime(s.CreatedAt())
	assert.Equal(t, s.CreatedAt(), s.UpdatedAt())
	assert.Equal(t, "anthropic", s.Backend())
	assert.Equal(t, "", s.Name())
	assert.Equal(t, map[string]any{}, s.Context())
	assert.Equal(t, session.TokenUsage{}, s.TokenUsage())
	assert.Equal(t, 0, s.Len())
	assert.Empty(t, s.GetMessages(0))

	id, err := uuid.Parse(s.ID())
	require.NoError(t, err)
	assert.Equal(t, uuid.Version(7), id.Version())
	assert.NotEqual(t, s.ID(), session.New("anthropic").ID())

	named := session.New("", session.WithName("My Chat"))
	assert.Equal(t, "", named.Backend())
	assert.Equal(t, "My Chat", named.Name())
}

func TestAddMessage(t *testing.T) {
	oslo := time.FixedZone("Oslo", 3600)
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, oslo)
	calls := []any{map[string]any{"id": "call_9", "type": "function"}}
	tests := []struct {
		name      string
		opts      []session.MessageOption
		timestamp time.Time // zero: now
		extra     map[string]any
	}{
		{name: "plain"},
		{name: "timestamp", opts: []session.MessageOption{session.WithTimestamp(at)}, timestamp: at},
		{name: "zero timestamp records none", opts: []session.MessageOption{session.WithTimestamp(time.Time{})}},
		{
			name:  "extra fields",
			opts:  []session.MessageOption{session.WithExtra("tool_calls", calls), session.WithExtra("name", "weather")},
			extra: map[string]any{"tool_calls": calls, "name": "weather"},
		},
		{
			name:  "later extra replaces earlier",
			opts:  []session.MessageOption{session.WithExtra("k", 1), session.WithExtra("k", 2)},
			extra: map[string]any{"k": json.Number("2")},
		},
		{
			name: "reserved keys are ignored",
			opts: []session.MessageOption{
				session.WithExtra("role", "system"), session.WithExtra("content", "other"),
				session.WithExtra("timestamp", at), session.WithExtra("token_usage", 1), session.WithExtra("id", "x"),
			},
			extra: map[string]any{"id": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inTime := clock(t)
			s := session.New("openai").AddMessage("assistant", "Hi there!", tt.opts...)
			inTime(s.UpdatedAt())
			require.Equal(t, 1, s.Len())
			m := s.GetMessages(0)[0]
			assert.Equal(t, "assistant", m.Role)
			assert.Equal(t, "Hi there!", m.Content)
			assert.Equal(t, tt.extra, m.Extra)
			switch {
			case tt.name == "zero timestamp records none":
				assert.True(t, m.Timestamp.IsZero())
			case tt.timestamp.IsZero():
				inTime(m.Timestamp)
				assert.Equal(t, s.UpdatedAt(), m.Timestamp)
			default:
				assert.True(t, tt.timestamp.Truncate(time.Microsecond).Equal(m.Timestamp), "kept to the microsecond")
				assert.Equal(t, time.UTC, m.Timestamp.Location())
			}
		})
	}
}

func TestOperationsSetUpdatedAt(t *testing.T) {
	ops := map[string]func(session.Session) session.Session{
		"AddMessage":       func(s session.Session) session.Session { return s.AddMessage("user", "x") },
		"ClearMessages":    session.Session.ClearMessages,
		"SetContext":       func(s session.Session) session.Session { return s.SetContext(map[string]any{"a": 1}) },
		"SetName":          func(s session.Session) session.Session { return s.SetName("n") },
		"UpdateTokenUsage": func(s session.Session) session.Session { return s.UpdateTokenUsage(session.TokenUsage{InputTokens: 1}) },
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	data := fmt.Sprintf(`{"id":"x","created_at":%q,"updated_at":%q}`, old.Format(time.RFC3339), old.Format(time.RFC3339))
	base, err := session.FromJSON([]byte(data))
	require.NoError(t, err)
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			inTime := clock(t)
			s := op(base)
			inTime(s.UpdatedAt())
			assert.Equal(t, old, s.CreatedAt())
			assert.Equal(t, old, base.UpdatedAt(), "receiver changed")
		})
	}
}

func TestGetMessages(t *testing.T) {
	s := grow(session.New(""), "m", 5)
	tests := []struct {
		limit int
		want  []string
	}{
		{-1, []string{"m0", "m1", "m2", "m3", "m4"}},
		{0, []string{"m0", "m1", "m2", "m3", "m4"}},
		{1, []string{"m4"}},
		{2, []string{"m3", "m4"}},
		{5, []string{"m0", "m1", "m2", "m3", "m4"}},
		{9, []string{"m0", "m1", "m2", "m3", "m4"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, contents(s.GetMessages(tt.limit)), "limit %d", tt.limit)
	}
	assert.Empty(t, session.New("").GetMessages(3))
}

func TestMessagesIterator(t *testing.T) {
	s := grow(session.New(""), "m", 4)
	var got []string
	for m := range s.Messages() {
		got = append(got, m.Content)
	}
	assert.Equal(t, []string{"m0", "m1", "m2", "m3"}, got)

	got = nil
	for m := range s.Messages() {
		if m.Content == "m2" {
			break
		}
		got = append(got, m.Content)
	}
	assert.Equal(t, []string{"m0", "m1"}, got)
}

func TestClearMessagesKeepsTheRest(t *testing.T) {
	s := session.New("openai", session.WithName("chat")).
		SetContext(map[string]any{"k": "v"}).
		UpdateTokenUsage(session.TokenUsage{InputTokens: 3, OutputTokens: 4})
	s = grow(s, "m", 3)
	c := s.ClearMessages()
	assert.Equal(t, 0, c.Len())
	assert.Empty(t, c.GetMessages(0))
	assert.Equal(t, s.ID(), c.ID())
	assert.Equal(t, "openai", c.Backend())
	assert.Equal(t, "chat", c.Name())
	assert.Equal(t, map[string]any{"k": "v"}, c.Context())
	assert.Equal(t, session.TokenUsage{InputTokens: 3, OutputTokens: 4}, c.TokenUsage())
	assert.Equal(t, 3, s.Len(), "receiver changed")
	assert.Equal(t, []string{"x0"}, contents(grow(c, "x", 1).GetMessages(0)))
}

func TestSetContextReplacesTheWholeContext(t *testing.T) {
	s := session.New("").SetContext(map[string]any{"a": 1, "b": 2})
	s = s.SetContext(map[string]any{"c": 3})
	assert.Equal(t, map[string]any{"c": json.Number("3")}, s.Context())
	assert.Equal(t, map[string]any{}, s.SetContext(nil).Context())
}

func TestSetName(t *testing.T) {
	s := session.New("", session.WithName("a")).SetName("My Important Chat")
	assert.Equal(t, "My Important Chat", s.Name())
	assert.Equal(t, "", s.SetName("").Name())
}

func TestUpdateTokenUsage(t *testing.T) {
	tests := []struct {
		name    string
		updates []session.TokenUsage
		want    session.TokenUsage
	}{
		{"none", nil, session.TokenUsage{}},
		{"adds up", []session.TokenUsage{io(10, 15), io(100, 150)}, io(110, 165)},
		{"negative counts count as zero", []session.TokenUsage{io(10, 15), io(-5, -100), io(1, -1)}, io(11, 15)},
		{"saturates", []session.TokenUsage{io(math.MaxInt-1, 1), io(5, math.MaxInt)}, io(math.MaxInt, math.MaxInt)},
		{"every field", []session.TokenUsage{
			{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 80, CacheWriteTokens: 10, ReasoningTokens: 20},
			{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: -4, ReasoningTokens: math.MaxInt},
		}, session.TokenUsage{InputTokens: 101, OutputTokens: 52, CacheReadTokens: 83, CacheWriteTokens: 10, ReasoningTokens: math.MaxInt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := session.New("")
			for _, u := range tt.updates {
				s = s.UpdateTokenUsage(u)
			}
			assert.Equal(t, tt.want, s.TokenUsage())
			assert.Equal(t, tt.want.Total(), s.TotalTokens())
			assert.GreaterOrEqual(t, s.TotalTokens(), 0)
		})
	}
	assert.Equal(t, 25, session.New("").UpdateTokenUsage(io(10, 15)).TotalTokens())
	assert.Equal(t, math.MaxInt, io(math.MaxInt, 1).Total())
	assert.Equal(t, 3, io(-7, 3).Total())
}

// io returns a usage of input and output tokens.
func io(input, output int) session.TokenUsage {
	return session.TokenUsage{InputTokens: input, OutputTokens: output}
}

func TestZeroSession(t *testing.T) {
	var s session.Session
	assert.Equal(t, "", s.ID())
	assert.Equal(t, 0, s.Len())
	assert.Empty(t, s.GetMessages(0))
	assert.Equal(t, map[string]any{}, s.Context())
	assert.Equal(t, []string{"m0"}, contents(grow(s, "m", 1).GetMessages(0)))
	data, err := s.ToJSON()
	assert.ErrorContains(t, err, "session: id: empty")
	assert.Nil(t, data)
}

// TestReceiverUnchanged checks that no operation changes the session it is called on.
func TestReceiverUnchanged(t *testing.T) {
	base := grow(session.New("a", session.WithName("n")).SetContext(map[string]any{"k": []any{"v"}}), "m", 3)
	snapshot := base.GetMessages(0)
	ops := []func(session.Session) session.Session{
		func(s session.Session) session.Session { return s.AddMessage("user", "x", session.WithExtra("e", 1)) },
		session.Session.ClearMessages,
		func(s session.Session) session.Session { return s.SetContext(map[string]any{"other": 1}) },
		func(s session.Session) session.Session { return s.SetName("other") },
		func(s session.Session) session.Session { return s.UpdateTokenUsage(io(1, 2)) },
	}
	for i, op := range ops {
		before := base
		op(base)
		assert.True(t, before.Equal(base), "op %d changed its receiver", i)
		assert.Equal(t, snapshot, base.GetMessages(0))
		assert.Equal(t, map[string]any{"k": []any{"v"}}, base.Context())
		assert.Equal(t, "n", base.Name())
		assert.Equal(t, session.TokenUsage{}, base.TokenUsage())
	}
}

// TestInputsAreCopied checks that changing maps and slices after handing them to a
// Session changes no Session, at any depth.
func TestInputsAreCopied(t *testing.T) {
	nested := map[string]any{"list": []any{"a", map[string]any{"deep": "x"}}}
	typed := map[string][]string{"tags": {"a"}}
	ctx := map[string]any{"nested": nested, "typed": typed, "ints": []int{1}}
	extra := map[string]any{"finish_reason": "stop", "list": []any{"a"}}
	calls := []any{map[string]any{"id": "call_1"}}

	s := session.New("").SetContext(ctx).
		AddMessage("assistant", "", session.WithExtra("metadata", extra), session.WithExtra("tool_calls", calls))

	ctx["added"] = true
	nested["list"].([]any)[1].(map[string]any)["deep"] = "changed"
	nested["list"].([]any)[0] = "changed"
	typed["tags"][0] = "changed"
	ctx["ints"].([]int)[0] = 99
	extra["finish_reason"] = "changed"
	extra["list"].([]any)[0] = "changed"
	calls[0].(map[string]any)["id"] = "changed"

	assert.Equal(t, map[string]any{
		"nested": map[string]any{"list": []any{"a", map[string]any{"deep": "x"}}},
		"typed":  map[string]any{"tags": []any{"a"}},
		"ints":   []any{json.Number("1")},
	}, s.Context())
	m := s.GetMessages(0)[0]
	assert.Equal(t, map[string]any{"finish_reason": "stop", "list": []any{"a"}}, m.Extra["metadata"])
	assert.Equal(t, []any{map[string]any{"id": "call_1"}}, m.Extra["tool_calls"])
}

// TestOutputsAreCopies checks that changing what a Session hands out changes no Session.
func TestOutputsAreCopies(t *testing.T) {
	s := session.New("").
		SetContext(map[string]any{"nested": map[string]any{"k": "v"}}).
		AddMessage("assistant", "hi", session.WithExtra("metadata", map[string]any{"k": []any{"v"}}))

	ctx := s.Context()
	ctx["nested"].(map[string]any)["k"] = "changed"
	ctx["new"] = 1

	msgs := s.GetMessages(0)
	msgs[0].Content = "changed"
	msgs[0].Extra["metadata"].(map[string]any)["k"].([]any)[0] = "changed"
	msgs[0].Extra["new"] = 1
	for m := range s.Messages() {
		m.Extra["metadata"].(map[string]any)["k"] = "changed"
	}

	assert.Equal(t, map[string]any{"nested": map[string]any{"k": "v"}}, s.Context())
	m := s.GetMessages(0)[0]
	assert.Equal(t, "hi", m.Content)
	assert.Equal(t, map[string]any{"metadata": map[string]any{"k": []any{"v"}}}, m.Extra)
}

// TestBranchesAreIndependent grows two and three branches from bases of every length
// up to past several growths of the storage, the case where append on a shared backing
// array would let one branch overwrite another's messages.
func TestBranchesAreIndependent(t *testing.T) {
	for n := range 70 {
		base := grow(session.New(""), "base", n)
		want := contents(base.GetMessages(0))

		a := base.AddMessage("user", "a")
		b := base.AddMessage("user", "b")
		a2 := a.AddMessage("user", "a2")
		c := base.AddMessage("user", "c")
		b2 := b.AddMessage("user", "b2")
		a3 := a.AddMessage("user", "a3")

		check := func(s session.Session, tail ...string) {
			t.Helper()
			assert.Equal(t, append(append([]string{}, want...), tail...), contents(s.GetMessages(0)), "base of %d", n)
		}
		check(base)
		check(a, "a")
		check(b, "b")
		check(c, "c")
		check(a2, "a", "a2")
		check(b2, "b", "b2")
		check(a3, "a", "a3")

		// Growing one branch far past the others, through reallocations, changes none of them.
		long := grow(b2, "x", n+40)
		check(a2, "a", "a2")
		check(a3, "a", "a3")
		check(c, "c")
		check(base)
		assert.Equal(t, "x"+fmt.Sprint(n+39), long.GetMessages(1)[0].Content)
	}
}

// TestConcurrentBranches grows branches from one shared base in many goroutines at once;
// run under go test -race it also proves the storage free of data races.
func TestConcurrentBranches(t *testing.T) {
	const goroutines, adds = 16, 200
	for _, baseLen := range []int{0, 1, 7, 8, 100} {
		base := grow(session.New(""), "base", baseLen)
		results := make([]session.Session, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				s := base
				for i := range adds {
					s = s.AddMessage("user", fmt.Sprintf("g%d-%d", g, i))
					if i%50 == 0 {
						_ = s.GetMessages(3) // read while others write
					}
				}
				results[g] = s
			})
		}
		wg.Wait()
		for g, s := range results {
			msgs := contents(s.GetMessages(0))
			require.Len(t, msgs, baseLen+adds)
			for i := range baseLen {
				require.Equal(t, fmt.Sprint("base", i), msgs[i])
			}
			for i := range adds {
				require.Equal(t, fmt.Sprintf("g%d-%d", g, i), msgs[baseLen+i])
			}
		}
		assert.Equal(t, baseLen, base.Len())
	}
}

// TestMatchesAPlainSliceModel checks random sequences of operations, branching from
// random earlier sessions, against a model that copies a plain slice at every step.
func TestMatchesAPlainSliceModel(t *testing.T) {
	property := func(seed uint64) bool {
		r := rand.New(rand.NewPCG(seed, 1))
		sessions := []session.Session{session.New("")}
		models := [][]string{nil}
		for step := range 300 {
			i := r.IntN(len(sessions))
			s, model := sessions[i], models[i]
			switch r.IntN(10) {
			case 0:
				s, model = s.ClearMessages(), nil
			default:
				content := fmt.Sprint(step)
				s = s.AddMessage("user", content)
				model = append(model[:len(model):len(model)], content)
			}
			sessions, models = append(sessions, s), append(models, model)
		}
		for i, s := range sessions {
			got := contents(s.GetMessages(0))
			if len(got) != len(models[i]) {
				return false
			}
			for j := range got {
				if got[j] != models[i][j] {
					return false
				}
			}
			if k := 1 + r.IntN(5); len(got) >= k && contents(s.GetMessages(k))[0] != got[len(got)-k] {
				return false
			}
		}
		return true
	}
	require.NoError(t, quick.Check(property, &quick.Config{MaxCount: 50}))
}

// TestAddMessageAllocations checks that AddMessage without options makes at most one
// allocation per message, amortized over a long conversation.
func TestAddMessageAllocations(t *testing.T) {
	const n = 1000
	allocs := testing.AllocsPerRun(10, func() {
		s := session.New("")
		for range n {
			s = s.AddMessage("user", "Hello!")
		}
		sinkSession = s
	})
	assert.LessOrEqual(t, allocs/n, 1.0, "%.0f allocations for %d messages", allocs, n)
	t.Logf("%.3f allocations per AddMessage", allocs/n)
}

func TestEqual(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	base := session.New("openai", session.WithName("n")).
		SetContext(map[string]any{"k": "v"}).
		AddMessage("user", "hi", session.WithTimestamp(at), session.WithExtra("e", "x"))
	oslo := time.FixedZone("Oslo", 3600)
	sameInstant := base.ClearMessages().AddMessage("user", "hi", session.WithTimestamp(at.In(oslo)), session.WithExtra("e", "x"))
	assert.True(t, base.Equal(base))
	assert.True(t, base.GetMessages(0)[0].Equal(sameInstant.GetMessages(0)[0]), "timestamps compare as instants")

	different := map[string]session.Session{
		"name":     base.SetName("other"),
		"context":  base.SetContext(map[string]any{"k": "w"}),
		"usage":    base.UpdateTokenUsage(session.TokenUsage{InputTokens: 1}),
		"messages": base.AddMessage("user", "more"),
		"cleared":  base.ClearMessages(),
		"id":       session.New("openai", session.WithName("n")),
	}
	for name, other := range different {
		assert.False(t, base.Equal(other), name)
		assert.False(t, other.Equal(base), name)
	}
	m := base.GetMessages(0)[0]
	for name, other := range map[string]session.Message{
		"role":      {Role: "assistant", Content: m.Content, Timestamp: m.Timestamp, Extra: m.Extra},
		"content":   {Role: m.Role, Content: "other", Timestamp: m.Timestamp, Extra: m.Extra},
		"timestamp": {Role: m.Role, Content: m.Content, Timestamp: m.Timestamp.Add(1), Extra: m.Extra},
		"extra":     {Role: m.Role, Content: m.Content, Timestamp: m.Timestamp},
	} {
		assert.False(t, m.Equal(other), name)
	}
}

// TestCommonPrefixLen drives sessions with random operations and checks
// CommonPrefixLen against comparing their messages one by one.
func TestCommonPrefixLen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pool := []session.Session{session.New("")}
	for range 3000 {
		s := pool[r.IntN(len(pool))]
		switch r.IntN(5) {
		case 0, 1:
			s = s.AddMessage("user", fmt.Sprint(r.IntN(3)), session.WithTimestamp(time.Unix(int64(r.IntN(2)), 0)))
		case 2:
			s = s.Truncate(r.IntN(s.Len() + 1))
		case 3:
			s = s.ClearMessages()
		case 4:
			data, err := s.ToJSON()
			require.NoError(t, err)
			s, err = session.FromJSON(data)
			require.NoError(t, err)
		}
		pool = append(pool, s)
		o := pool[r.IntN(len(pool))]
		a, b := s.GetMessages(0), o.GetMessages(0)
		want := 0
		for want < min(len(a), len(b)) && a[want].Equal(b[want]) {
			want++
		}
		require.Equal(t, want, s.CommonPrefixLen(o))
		require.Equal(t, want, o.CommonPrefixLen(s))
	}
}

func TestHeaderJSON(t *testing.T) {
	s := session.New("openai", session.WithName("n")).AddMessage("user", "hi").UpdateTokenUsage(io(1, 2))
	header, err := storage.Header(s)
	require.NoError(t, err)
	assert.NotContains(t, string(header), `"messages"`)
	body := must(s.GetMessages(1)[0].MarshalJSON())
	back, err := session.FromJSON([]byte(`{"messages":[` + string(body) + `],` + string(header[1:])))
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
	_, err = storage.Header(session.Session{})
	assert.Error(t, err)
}
