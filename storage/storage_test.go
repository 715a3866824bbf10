package storage_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/storage"
)

// parts returns the header and the messages of s as a store keeps them.
func parts(t *testing.T, s session.Session) ([]byte, [][]byte) {
	header, err := storage.Header(s)
	require.NoError(t, err)
	var bodies [][]byte
	for m := range s.Messages() {
		body, err := m.MarshalJSON()
		require.NoError(t, err)
		bodies = append(bodies, body)
	}
	return header, bodies
}

func TestDecodeGivesTheSessionBack(t *testing.T) {
	s := session.New("openai", session.WithName("caf\xc3")).
		AddMessage("system", "be brief").
		AddMessage("user", "hi", session.WithExtra("x", map[string]any{"y": []any{1.5, "z"}})).
		AddMessage("assistant", "hello", session.WithUsage(session.TokenUsage{InputTokens: 3, OutputTokens: 1})).
		SetContext(map[string]any{"k": "v"}).Summarize(1, "a summary")
	header, bodies := parts(t, s)
	back, err := storage.Decode(header, bodies)
	require.NoError(t, err)
	assert.True(t, back.Equal(s))
	d1, _ := s.Digest()
	d2, _ := back.Digest()
	assert.Equal(t, d1, d2)

	empty, err := storage.Decode(header, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, empty.Len())
}

func TestDecodeErrorsNameTheMessage(t *testing.T) {
	s := session.New("openai").AddMessage("user", "hi").AddMessage("assistant", "hello")
	header, bodies := parts(t, s)
	for _, tt := range []struct {
		name    string
		header  string
		bodies  []string
		message string
	}{
		{"a message not JSON", string(header), []string{string(bodies[0]), `{"role":`}, "messages[1]"},
		{"a message of the wrong type", string(header), []string{`{"role":5,"content":"x"}`}, "messages[0].role"},
		{"two messages in one", string(header), []string{string(bodies[0]) + "," + string(bodies[1])}, "messages[0]"},
		{"a message that closes the list", string(header), []string{string(bodies[0]) + `],"name":"x","m":[` + string(bodies[1])}, "messages[0]"},
		{"a header with messages", `{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[` + string(bodies[0]) + `]}`, nil, "header"},
		{"a header not an object", `[]`, nil, "header"},
	} {
		var raw [][]byte
		for _, b := range tt.bodies {
			raw = append(raw, []byte(b))
		}
		_, err := storage.Decode([]byte(tt.header), raw)
		require.Error(t, err, tt.name)
		assert.Contains(t, err.Error(), tt.message, tt.name)
	}
}

func TestPrefixAtAndPrecededBy(t *testing.T) {
	s := session.New("openai").AddMessage("system", "rules")
	for i := range 9 {
		s = s.AddMessage("user", fmt.Sprint("m", i))
	}
	for _, i := range []int{-1, 11} {
		_, err := storage.PrefixAt(s, i)
		assert.Error(t, err, "prefix of %d", i)
	}
	p, err := storage.PrefixAt(s, 6)
	require.NoError(t, err)
	assert.Equal(t, 6, p.Len)
	tail, err := storage.Decode(must(storage.Header(s)), bodiesOf(t, s.GetMessages(4)))
	require.NoError(t, err)
	part, err := storage.PrecededBy(tail, p, s.MessageAt(0))
	require.NoError(t, err)
	assert.True(t, part.Equal(s))
	assert.Equal(t, 6, part.FirstIndex())
	assert.Equal(t, "rules", part.MessageAt(0).Content)
	_, err = storage.PrefixAt(part, 5)
	assert.Error(t, err, "before what it holds")
	_, err = storage.PrecededBy(part, p)
	assert.Error(t, err, "a partial tail")
}

func bodiesOf(t *testing.T, msgs []session.Message) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		b, err := m.MarshalJSON()
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A store keeps the header and the messages apart, and reads the last messages alone
// as the end of the whole session.
func Example() {
	s := session.New("openai").AddMessage("system", "Be brief.")
	for i := range 5 {
		s = s.AddMessage("user", fmt.Sprint("question ", i)).AddMessage("assistant", fmt.Sprint("answer ", i))
	}
	// What a store writes at a commit: the header, each message, and the prefix
	// through each (here only the one it will need).
	header, _ := storage.Header(s)
	var rows [][]byte
	for m := range s.Messages() {
		body, _ := m.MarshalJSON()
		rows = append(rows, body)
	}
	before, _ := storage.PrefixAt(s, 9)

	// What it reads for a turn: the header and the last two messages.
	tail, _ := storage.Decode(header, rows[9:])
	recent, _ := storage.PrecededBy(tail, before, s.MessageAt(0))
	d1, _ := s.Digest()
	d2, _ := recent.Digest()
	fmt.Println(recent.Len(), recent.FirstIndex(), d1 == d2)
	// Output: 11 9 true
}
