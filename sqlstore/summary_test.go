package sqlstore_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/sqlstore"
)

// TestSummariesInTheStore commits a summarized session and loads it whole and recent:
// the summary comes back with the header, so that a stateless turn needs the summary and
// the tail only; a summary committed while another writer added a turn loses neither.
func TestSummariesInTheStore(t *testing.T) {
	forEach(t, func(t *testing.T, st *sqlstore.Store, db *sql.DB) {
		s := session.New("openai").AddMessage("system", "rules")
		for i := range 20 {
			s = s.AddMessage("user", fmt.Sprint("q", i)).AddMessage("assistant", fmt.Sprint("a", i))
		}
		s = s.Summarize(31, "what was said before q15")
		require.NoError(t, st.Commit(ctx, session.Session{}, s))
		whole, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, whole.Equal(s))
		recent, err := st.LoadRecent(ctx, s.ID(), 4)
		require.NoError(t, err)
		text, through := recent.Summary()
		assert.Equal(t, "what was said before q15", text)
		assert.Equal(t, 31, through)
		assert.Equal(t, "what was said before q15", recent.Window(1000, nil)[0].Content)
		recent, err = st.LoadRecent(ctx, s.ID(), 12) // as many as the summary leaves
		require.NoError(t, err)
		assert.Equal(t, s.Window(1000, nil, session.StablePrefix()), recent.Window(1000, nil, session.StablePrefix()),
			"the stateless window is the whole session's")

		// A summary made from a base that another writer has since extended.
		base := whole
		turn := base.AddMessage("user", "meanwhile").AddMessage("assistant", "noted")
		require.NoError(t, st.Commit(ctx, base, turn))
		summarized := base.Summarize(35, "what was said before q17")
		require.ErrorIs(t, st.Commit(ctx, base, summarized), sqlstore.ErrConflict)
		calls := 0
		got, err := st.Update(ctx, s.ID(), func(cur session.Session) (session.Session, error) {
			calls++
			return cur.Summarize(35, "what was said before q17"), nil
		}, sqlstore.WithRecent(2), sqlstore.RebaseAppends())
		require.NoError(t, err)
		assert.Equal(t, 1, calls)
		loaded, err := st.Load(ctx, s.ID())
		require.NoError(t, err)
		assert.True(t, loaded.Equal(got))
		text, through = loaded.Summary()
		assert.Equal(t, "what was said before q17", text)
		assert.Equal(t, 35, through)
		last, _ := loaded.LastMessage()
		assert.Equal(t, "noted", last.Content, "the other writer's turn is kept")
		assert.Equal(t, 43, loaded.Len())
	})
}
