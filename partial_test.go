package session_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
)

// TestRecentIsTheWholeSessionsEnd checks what a partial session from Recent keeps of the
// whole one: its length, header, digest and last messages, Equal both ways.
func TestRecentIsTheWholeSessionsEnd(t *testing.T) {
	for seed := range uint64(40) {
		whole := randomSession(seed)
		n := int(seed % 7)
		part := whole.Recent(n)
		first := max(whole.Len()-n, 0)
		require.Equal(t, whole.Len(), part.Len(), "seed %d", seed)
		require.Equal(t, first, part.FirstIndex(), "seed %d", seed)
		assert.Equal(t, whole.GetMessages(0)[first:], part.GetMessages(0), "seed %d", seed)
		assert.True(t, part.Equal(whole) && whole.Equal(part), "seed %d", seed)
		assert.Equal(t, whole.Len(), part.CommonPrefixLen(whole), "seed %d", seed)
		wd, err := whole.Digest()
		require.NoError(t, err)
		pd, err := part.Digest()
		require.NoError(t, err, "seed %d", seed)
		assert.Equal(t, wd, pd, "seed %d", seed)
		wh, _ := storage.Header(whole)
		ph, err := storage.Header(part)
		require.NoError(t, err)
		assert.Equal(t, string(wh), string(ph))
		for i, m := range part.Backward() {
			assert.True(t, whole.MessageAt(i).Equal(m), "seed %d message %d", seed, i)
			assert.True(t, part.MessageAt(i).Equal(m))
		}
		if first == 0 {
			assert.Equal(t, 0, part.FirstIndex())
			continue
		}
		assert.Panics(t, func() { part.MessageAt(first - 1) })
	}
}

// TestPartialSessionsAreNotWrittenWhole checks that every whole encoding of a partial
// session fails, naming the messages it lacks, and writes no file.
func TestPartialSessionsAreNotWrittenWhole(t *testing.T) {
	s := grow(session.New("openai"), "m", 10).Recent(4)
	_, err := s.ToJSON()
	require.ErrorIs(t, err, session.ErrPartial)
	assert.Contains(t, err.Error(), "session: messages[0:6]: not held")
	_, err = json.Marshal(s)
	assert.ErrorIs(t, err, session.ErrPartial)
	_, err = s.AppendJSON(nil)
	assert.ErrorIs(t, err, session.ErrPartial)
	path := filepath.Join(t.TempDir(), "s.json")
	err = s.SaveToFile(path)
	require.ErrorIs(t, err, session.ErrPartial)
	assert.Contains(t, err.Error(), path)
	assert.NoFileExists(t, path)
	assert.NoError(t, s.Err(), "its header and messages can be encoded")
	_, err = storage.Header(s)
	assert.NoError(t, err)

	cleared := s.ClearMessages()
	assert.Equal(t, 0, cleared.FirstIndex())
	_, err = cleared.ToJSON()
	assert.NoError(t, err, "ClearMessages makes it whole")
}

// TestPartialLimitsAreCheckedWhereMade: a partial session never becomes one that
// cannot be used. Truncate before the first message it holds panics, naming them;
// PrecededBy of a partial session is an error; Truncate within what it holds, and to
// 0, work.
func TestPartialLimitsAreCheckedWhereMade(t *testing.T) {
	whole := grow(session.New("openai"), "m", 10)
	part := whole.Recent(4)
	assert.PanicsWithValue(t, "session: Truncate(3) of a partial session that holds messages [6, 10): load it whole to cut before them",
		func() { part.Truncate(3) })
	_, err := storage.PrecededBy(part, storage.Prefix{Len: 2})
	assert.Error(t, err)
	_, err = storage.PrecededBy(whole, storage.Prefix{Len: -1})
	assert.Error(t, err)

	within := part.Truncate(7)
	assert.Equal(t, 7, within.CommonPrefixLen(whole.Truncate(7)))
	_, err = within.Digest()
	require.NoError(t, err, "it can be digested, so committed")
	assert.Equal(t, 0, part.Truncate(0).FirstIndex())
	_, err = part.Truncate(0).ToJSON()
	assert.NoError(t, err)
}

// TestPrecededByRebuildsTheEnd builds a partial session as a store does, from the header
// and the last messages' JSON and the chain digest before them, and checks it against
// the whole session and against a tampered chain.
func TestPrecededByRebuildsTheEnd(t *testing.T) {
	for seed := range uint64(30) {
		whole := randomSession(seed)
		first := whole.Len() / 2
		pre, err := storage.PrefixAt(whole, first)
		require.NoError(t, err)
		tokens := 0
		for _, m := range whole.GetMessages(0)[:first] {
			tokens += session.EstimateTokens(m)
		}
		assert.Equal(t, storage.Prefix{Len: first, Chain: pre.Chain, Tokens: tokens}, pre)
		tail := whole.GetMessages(whole.Len() - first)
		header, err := storage.Header(whole)
		require.NoError(t, err)
		var doc map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(header, &doc))
		bodies, err := json.Marshal(tail)
		require.NoError(t, err)
		doc["messages"] = bodies
		data, err := json.Marshal(doc)
		require.NoError(t, err)
		loaded, err := session.FromJSON(data)
		require.NoError(t, err)

		part, err := storage.PrecededBy(loaded, pre)
		require.NoError(t, err)
		assert.True(t, part.Equal(whole), "seed %d", seed)
		wd, _ := whole.Digest()
		pd, err := part.Digest()
		require.NoError(t, err)
		assert.Equal(t, wd, pd, "seed %d", seed)
		for i := first; i <= whole.Len(); i++ {
			wc, _ := storage.PrefixAt(whole, i)
			pc, err := storage.PrefixAt(part, i)
			require.NoError(t, err)
			assert.Equal(t, wc, pc, "seed %d chain %d", seed, i)
		}
		if first > 1 {
			_, err := storage.PrefixAt(part, first-1)
			assert.Error(t, err)
		}
		if first > 0 {
			pre.Chain[0] ^= 1
			forged, err := storage.PrecededBy(loaded, pre)
			require.NoError(t, err)
			fd, _ := forged.Digest()
			assert.NotEqual(t, wd, fd, "another chain is another session")
			assert.False(t, forged.Equal(whole))
		}
	}
}

// TestPartialSessionsChangeAsWholeOnes applies the same random changes to a whole
// session and to partial ones of it, and checks after each that they stay Equal, with
// the same digest, length, held messages, and windows where the whole one's lies in
// what the partial one holds.
func TestPartialSessionsChangeAsWholeOnes(t *testing.T) {
	// Updated far in the future, a session's every change is 1us later, whatever the
	// clock: the two sessions changed alike stay alike.
	future, err := session.FromJSON([]byte(`{"id": "s", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2999-01-01T00:00:00Z"}`))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(7, 8))
	for run := range 200 {
		whole := future
		for range r.IntN(30) {
			whole = randomChange(r, whole)
		}
		part := whole.Recent(r.IntN(6))
		for step := range 30 {
			seed := r.Uint64()
			floor := part.FirstIndex()
			whole = randomChangeFrom(rand.New(rand.NewPCG(seed, 1)), whole, floor)
			part = randomChangeFrom(rand.New(rand.NewPCG(seed, 1)), part, floor)
			if part.Len() < part.FirstIndex() || whole.Len() != part.Len() {
				t.Fatalf("run %d step %d: lengths %d and %d", run, step, whole.Len(), part.Len())
			}
			if !part.Equal(whole) {
				wh, _ := storage.Header(whole)
				ph, _ := storage.Header(part)
				t.Fatalf("run %d step %d: not Equal: %d messages from %d, %d in common\n%s\n%s", run, step, part.Len(), part.FirstIndex(), whole.CommonPrefixLen(part), wh, ph)
			}
			require.Equal(t, whole.Len(), whole.CommonPrefixLen(part))
			wd, err := whole.Digest()
			require.NoError(t, err)
			pd, err := part.Digest()
			require.NoError(t, err)
			require.Equal(t, wd, pd, "run %d step %d", run, step)
			wp, err := storage.PrefixAt(whole, whole.Len())
			require.NoError(t, err)
			pp, err := storage.PrefixAt(part, part.Len())
			require.NoError(t, err)
			require.Equal(t, wp, pp, "run %d step %d: the prefix of the whole conversation", run, step)
			held := part.Len() - part.FirstIndex()
			if held == 0 {
				require.Empty(t, part.GetMessages(0))
				continue
			}
			require.Equal(t, whole.GetMessages(held), part.GetMessages(0))
			budget := r.IntN(40)
			w := whole.Window(budget, nil)
			if len(w) == 0 || len(w) <= held && w[0].Equal(part.MessageAt(whole.Len()-len(w))) {
				assert.Equal(t, w, part.Window(budget, nil), "run %d step %d", run, step)
			}
		}
	}
}

// TestPartialSessionsAreEncodedWhenWhole checks that errors name conversation indexes.
func TestPartialErrorsNameConversationIndexes(t *testing.T) {
	s := grow(session.New("openai"), "m", 10).Recent(2)
	s = s.AddMessage("user", "x", session.WithExtra("bad", func() {}))
	require.ErrorContains(t, s.Err(), "messages[10].bad")
	_, err := s.Digest()
	assert.ErrorContains(t, err, "messages[10].bad")
	_, err = storage.PrefixAt(s, 11)
	assert.ErrorContains(t, err, "messages[10].bad")
	_, err = storage.PrefixAt(s, 12)
	assert.Error(t, err)
	p, err := storage.PrefixAt(s, 10)
	assert.NoError(t, err)
	assert.NotEqual(t, [32]byte{}, p.Chain)
	assert.Positive(t, p.Tokens)
	assert.False(t, errors.Is(s.Err(), session.ErrPartial))
}

// TestEstimateTokensSurvivesAJSONRoundTrip checks that a message counts alike before it
// is saved and after it is loaded: a store records the sums, and checks them on load.
func TestEstimateTokensSurvivesAJSONRoundTrip(t *testing.T) {
	for seed := range uint64(100) {
		s := randomSession(seed).AddMessage("user\xff", "caf\xc3\xff", session.WithExtra("k\xfe", "v\xfd"))
		loaded, err := session.FromJSON(must(s.ToJSON()))
		require.NoError(t, err)
		before, after := s.GetMessages(0), loaded.GetMessages(0)
		for i := range before {
			require.Equal(t, session.EstimateTokens(before[i]), session.EstimateTokens(after[i]), "seed %d message %d", seed, i)
		}
		p, err := storage.PrefixAt(s, s.Len())
		require.NoError(t, err)
		q, err := storage.PrefixAt(loaded, loaded.Len())
		require.NoError(t, err)
		require.Equal(t, p, q)
	}
}

// TestPartialKeepsTheInstructions checks that a partial session holds the conversation's
// leading system messages, so that KeepSystem sends them as the whole session does.
func TestPartialKeepsTheInstructions(t *testing.T) {
	s := grow(session.New("").AddMessage("system", "rules").AddMessage("system", "more"), "m", 22)
	count := func(m session.Message) int { return len(m.Content) }
	for _, n := range []int{0, 1, 5, 19, 20, 21, 22} {
		part := s.Recent(n)
		assert.Equal(t, "rules", part.MessageAt(0).Content, "n=%d", n)
		assert.Equal(t, "more", part.MessageAt(1).Content, "n=%d", n)
		for _, budget := range []int{9, 12, 20, 1000} {
			for _, opts := range [][]session.WindowOption{{session.KeepSystem()}, {session.KeepSystem(), session.StablePrefix()}} {
				whole := s.Window(budget, count, opts...)
				if len(whole) > 2+n {
					continue // the whole window holds messages the partial one does not
				}
				assert.Equal(t, contents(whole), contents(part.Window(budget, count, opts...)), "n=%d budget %d", n, budget)
			}
		}
	}
	assert.Equal(t, []string{"m19", "m20", "m21"}, contents(s.Recent(3).GetMessages(0)), "GetMessages gives what it holds")

	// PrecededBy keeps the leading system messages it is given, and no other.
	p, err := storage.PrefixAt(s, 20)
	require.NoError(t, err)
	tail, err := session.FromJSON(must(storage.Header(s.Recent(2))))
	require.NoError(t, err)
	tail = tail.AppendMessages(s.GetMessages(2)...)
	rebuilt, err := storage.PrecededBy(tail, p, s.MessageAt(0), s.MessageAt(1), s.MessageAt(2))
	require.NoError(t, err)
	assert.Equal(t, []string{"rules", "more", "m20", "m21"}, contents(rebuilt.Window(1000, nil, session.KeepSystem())))
	rebuilt, err = storage.PrecededBy(tail, p, s.MessageAt(2), s.MessageAt(0))
	require.NoError(t, err)
	assert.Equal(t, []string{"m20", "m21"}, contents(rebuilt.Window(1000, nil, session.KeepSystem())), "a first message that is no system message")
}
