package session_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// randomChange applies one random operation to s. Times, contents and names come from
// small sets, so that different changes often write the same bytes, and the strings
// hold invalid UTF-8 now and then.
func randomChange(r *rand.Rand, s session.Session) session.Session {
	return randomChangeFrom(r, s, 0)
}

// randomChangeFrom is randomChange, with Truncate to floor messages at least: what a
// partial session whose first message is floor supports.
func randomChangeFrom(r *rand.Rand, s session.Session, floor int) session.Session {
	texts := []string{"hi", "hi", "caf\xc3", "\xff", "\xfe", "ok\ufffd"}
	text := func() string { return texts[r.IntN(len(texts))] }
	at := time.Unix(int64(r.IntN(3)), 0)
	switch r.IntN(9) {
	case 0, 1, 2:
		return s.AddMessage("user", text(), session.WithTimestamp(at))
	case 3:
		return s.AddMessage("assistant", text(), session.WithTimestamp(at),
			session.WithUsage(session.TokenUsage{InputTokens: r.IntN(2)}), session.WithExtra(text(), text()))
	case 4:
		return s.Truncate(floor + r.IntN(s.Len()-floor+1))
	case 5:
		return s.SetName(text())
	case 6:
		return s.SetContext(map[string]any{text(): text()})
	case 7:
		return s.UpdateTokenUsage(session.TokenUsage{OutputTokens: r.IntN(2)})
	default:
		return s.ClearMessages()
	}
}

// TestDigestIdentifiesTheJSON drives sessions with random changes, some loaded again
// from their JSON, and checks that two sessions have the same digest exactly when ToJSON
// writes them alike.
func TestDigestIdentifiesTheJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	base := session.New("openai")
	pool := []session.Session{base}
	for range 2000 {
		s := pool[r.IntN(len(pool))]
		if r.IntN(8) == 0 {
			var err error
			s, err = session.FromJSON(must(s.ToJSON()))
			require.NoError(t, err)
		} else {
			s = randomChange(r, s)
		}
		pool = append(pool, s)
	}
	byDigest := map[[32]byte][]byte{}
	for i, s := range pool {
		d, err := s.Digest()
		require.NoError(t, err)
		data := must(s.ToJSON())
		if seen, ok := byDigest[d]; ok {
			require.Equal(t, string(seen), string(data), "session %d: one digest for different JSON", i)
		}
		byDigest[d] = data
	}
	byJSON := map[string][32]byte{}
	for i, s := range pool {
		d, _ := s.Digest()
		data := string(must(s.ToJSON()))
		if seen, ok := byJSON[data]; ok {
			require.Equal(t, seen, d, "session %d: one JSON, different digests", i)
		}
		byJSON[data] = d
	}
	assert.Greater(t, len(pool)-len(byJSON), 100, "the changes wrote the same JSON often enough to test it")
}

// TestDigestOfAChangeNotOfItsClock checks that changes of one base whose clocks say the
// same time, or an earlier one than the base's, still have different digests.
func TestDigestOfAChangeNotOfItsClock(t *testing.T) {
	future := time.Now().Add(time.Hour)
	base, err := session.FromJSON([]byte(`{"id":"x","created_at":"` + future.Format(time.RFC3339Nano) +
		`","updated_at":"` + future.Format(time.RFC3339Nano) + `"}`))
	require.NoError(t, err)
	a := base.AddMessage("user", "delete my account").AddMessage("assistant", "Done.")
	c := base.AddMessage("user", "keep my account").AddMessage("assistant", "Done.")
	require.True(t, a.UpdatedAt().Equal(c.UpdatedAt()), "both are a microsecond after the base")
	da, err := a.Digest()
	require.NoError(t, err)
	dc, err := c.Digest()
	require.NoError(t, err)
	assert.NotEqual(t, da, dc)

	at := time.Unix(1, 0)
	same := base.AddMessage("user", "hi", session.WithTimestamp(at))
	withUsage := base.AddMessage("user", "hi", session.WithTimestamp(at)).UpdateTokenUsage(session.TokenUsage{InputTokens: 5})
	d1, _ := same.Digest()
	d2, _ := withUsage.Digest()
	assert.NotEqual(t, d1, d2, "the same message, another usage")
}

func TestDigestErrors(t *testing.T) {
	_, err := session.Session{}.Digest()
	assert.ErrorContains(t, err, "session: id")
	bad := session.New("").AddMessage("user", "hi").AddMessage("user", "x", session.WithExtra("f", func() {}))
	_, err = bad.Digest()
	assert.ErrorContains(t, err, "session: messages[1].f")
}

// TestInvalidUTF8IsStable checks that strings that are not UTF-8, wherever a session
// holds them, are written as they read back, so that a loaded session writes the same
// bytes and has the same digest.
func TestInvalidUTF8IsStable(t *testing.T) {
	s := session.New("\xff", session.WithName("caf\xc3")).
		SetContext(map[string]any{"k\xfe": "v\xff", "n": []any{"\xed\xa0\x80"}}).
		AddMessage("user\xff", "answer cut at a byte limit \xe2\x82", session.WithExtra("tool\xff", "out\x00\xfe")).
		AddMessage("user", "", session.WithParts(map[string]any{"type": "text", "text": "\xc0"}))
	out := must(s.ToJSON())
	require.True(t, strings.ToValidUTF8(string(out), "") == string(out), "the JSON is UTF-8: %q", out)
	back, err := session.FromJSON(out)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(must(back.ToJSON())), "a round trip writes the same bytes")
	assert.True(t, back.Equal(s))
	assert.True(t, s.Equal(back))
	d1, err := s.Digest()
	require.NoError(t, err)
	d2, err := back.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, d2)
	assert.Equal(t, "caf\ufffd", back.Name())
	assert.Equal(t, map[string]any{"k\ufffd": "v\ufffd", "n": []any{"\ufffd\ufffd\ufffd"}}, back.Context())
	assert.Contains(t, s.Context(), "k\ufffd", "keys are kept as they are written")
}

// TestKeysWrittenAlike checks that no object is written with two keys that differ only
// in bytes that are not UTF-8: they are refused where they come in, or at the encoding
// of a message made by hand, naming the field.
func TestKeysWrittenAlike(t *testing.T) {
	s := session.New("").SetContext(map[string]any{"\xff": 1, "\xfe": 2})
	_, err := s.ToJSON()
	assert.ErrorContains(t, err, "session: context")
	assert.ErrorContains(t, err, "duplicate key")

	s = session.New("").AddMessage("user", "x", session.WithExtra("m", map[string]any{"\ufffd": 1, "\xff": 2}))
	_, err = s.ToJSON()
	assert.ErrorContains(t, err, "session: messages[0].m: duplicate key")

	s = session.New("").AddMessage("user", "x", session.WithExtra("\xff", 1), session.WithExtra("\xfe", 2))
	out := must(s.ToJSON())
	assert.Equal(t, 1, bytes.Count(out, []byte("\ufffd")), "one key, the later value: %s", out)
	assert.Contains(t, string(out), `"`+"\ufffd"+`":2`)

	byHand := session.Message{Role: "user", Extra: map[string]any{"\xff": 1, "\xfe": 2}}
	_, err = byHand.MarshalJSON()
	assert.ErrorContains(t, err, "duplicate key")
}

// TestEqualIsSymmetric checks Equal on messages made by hand whose keys are not UTF-8.
func TestEqualIsSymmetric(t *testing.T) {
	msgs := []session.Message{
		{Role: "user", Extra: map[string]any{"\xff": 1}},
		{Role: "user", Extra: map[string]any{"\xfe": 1}},
		{Role: "user", Extra: map[string]any{"\ufffd": 1}},
		{Role: "user", Extra: map[string]any{"\xff": 1, "\xfe": 1}},
		{Role: "user", Extra: map[string]any{"\xff": 1, "a": 1}},
		{Role: "user", Extra: map[string]any{"\ufffd": 1, "a": 1}},
		{Role: "user", Extra: map[string]any{"\xfe": 1, "\ufffd": 1}},
	}
	for i, a := range msgs {
		for j, b := range msgs {
			assert.Equal(t, a.Equal(b), b.Equal(a), "messages %d and %d", i, j)
		}
	}
	assert.True(t, msgs[0].Equal(msgs[1]), "written alike")
	assert.True(t, msgs[3].Equal(msgs[3]))
	assert.False(t, msgs[3].Equal(msgs[6]), "neither can be written")
}

// BenchmarkDigestTurn computes the digest of a session one turn longer than one whose
// digest was computed, after a last message of 1 KB and of 20 MB: the same work.
func BenchmarkDigestTurn(b *testing.B) {
	for _, size := range []int{1 << 10, 20 << 20} {
		s := grow(session.New(""), "m", 1000).AddMessage("tool", strings.Repeat("x", size))
		if _, err := s.Digest(); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("after-%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.AddMessage("user", "hi").AddMessage("assistant", "hello").Digest(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommonPrefixAfterBranches compares CommonPrefixLen of a session and its
// next turn after 10 and after 4,000 branches of one log (Truncate and add, as a retried
// answer does): the same work.
func BenchmarkCommonPrefixAfterBranches(b *testing.B) {
	for _, branches := range []int{10, 4000} {
		s := grow(session.New(""), "m", 100)
		for range branches {
			s = s.Truncate(s.Len()-1).AddMessage("assistant", "again")
		}
		next := s.AddMessage("user", "hi")
		b.Run(fmt.Sprintf("branches-%d", branches), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if next.CommonPrefixLen(s) != s.Len() {
					b.Fatal("wrong prefix")
				}
			}
		})
	}
}

// TestBranchesHaveNoTail checks that a branch of a shared log (Truncate and add, as a
// retried answer) allocates as much after 4,000 branches as after 10: nothing grows with
// the branches a session has had.
func TestBranchesHaveNoTail(t *testing.T) {
	bytesPerBranch := func(before int) float64 {
		s := grow(session.New(""), "m", 100)
		for range before {
			s = s.Truncate(s.Len()-1).AddMessage("assistant", "again")
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 200
		for range n {
			s = s.Truncate(s.Len()-1).AddMessage("assistant", "again")
		}
		runtime.ReadMemStats(&m1)
		sinkSession = s
		return float64(m1.TotalAlloc-m0.TotalAlloc) / n
	}
	few, many := bytesPerBranch(10), bytesPerBranch(4000)
	t.Logf("a branch allocates %.0f bytes after 10 branches, %.0f after 4,000", few, many)
	assert.Less(t, many, 1.5*few)
}
