package session_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

func TestRebase(t *testing.T) {
	base := grow(session.New("openai"), "m", 6).UpdateTokenUsage(io(5, 5))
	turn := base.AddMessage("user", "question").
		AddMessage("assistant", "answer", session.WithUsage(io(100, 20))).
		UpdateTokenUsage(io(7, 0)) // say, a summary's call
	onto := base.AddMessage("user", "elsewhere", session.WithUsage(io(1, 1))).SetName("renamed")

	for _, tt := range []struct {
		name       string
		base, onto session.Session
	}{
		{"whole", base, onto},
		{"partial", base.Recent(2), onto.Recent(3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := turn
			if tt.base.FirstIndex() > 0 {
				s = tt.base.AddMessage("user", "question").
					AddMessage("assistant", "answer", session.WithUsage(io(100, 20))).UpdateTokenUsage(io(7, 0))
			}
			got, ok := s.Rebase(tt.base, tt.onto)
			require.True(t, ok)
			assert.Equal(t, tt.onto.Len()+2, got.Len())
			assert.Equal(t, 7, got.CommonPrefixLen(onto), "the other writer's messages first")
			assert.Equal(t, s.GetMessages(2), got.GetMessages(2), "then the turn's, as they were")
			assert.Equal(t, "renamed", got.Name())
			assert.Equal(t, io(5+1+100+7, 5+1+20), got.TokenUsage())
			assert.True(t, got.UpdatedAt().After(tt.onto.UpdatedAt()))
		})
	}

	for _, tt := range []struct {
		name          string
		s, base, onto session.Session
	}{
		{"the turn truncates", turn.Truncate(3).AddMessage("user", "q"), base, onto},
		{"the turn renames", turn.SetName("mine"), base, onto},
		{"the turn sets the context", turn.SetContext(map[string]any{"k": "v"}), base, onto},
		{"the other writer truncated", turn, base, base.Truncate(5).AddMessage("user", "redo")},
		{"the other writer cleared", turn, base, base.ClearMessages()},
		{"another session", turn, base, session.New("openai")},
		{"not made from base", base.AddMessage("user", "q"), turn, onto},
		{"the zero Session", session.Session{}, base, onto},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.s.Rebase(tt.base, tt.onto)
			assert.False(t, ok)
			assert.True(t, got.Equal(tt.onto), "onto, unchanged")
		})
	}
}
