package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/llm"
	"github.com/exllm-go/session/sqlstore"
)

// chat is the state of one run of the chat.
type chat struct {
	s      session.Session // the session, as last saved unless stored is false
	stored bool            // whether s is in the store: a new session is saved at its first turn
	failed bool            // a turn was not answered: the exit status says so
	store  store
	model  llm.Model
	window int // the tokens of history sent to the model
	price  *session.Price
	out    io.Writer
	errOut io.Writer

	stopped       bool
	saidEstimated bool // the chat said that the endpoint reports no usage
}

// maxToolRounds is how many times in a turn the model may call tools before it must
// answer in text.
const maxToolRounds = 8

// errDoesNotFit is the error of a message too large for the model's window.
var errDoesNotFit = errors.New("does not fit")

func (c *chat) open(ctx context.Context, path, dsn string) error {
	var err error
	if dsn != "" {
		c.store, err = openDBStore(ctx, dsn)
	} else {
		c.store, err = openFileStore(path)
	}
	if err != nil {
		return err
	}
	if err := c.resume(ctx); err != nil {
		c.store.close()
		return err
	}
	return nil
}

func (c *chat) backend() string {
	if _, ok := c.model.(llm.Local); ok {
		return "local"
	}
	return "openai"
}

// handle acts on one line of input: a command or a message. An error it returns ends
// the chat; a turn that fails is reported and the chat goes on.
func (c *chat) handle(ctx context.Context, line string) error {
	if line == "" {
		return nil
	}
	if !strings.HasPrefix(line, "/") {
		return c.reportedTurn(c.turn(ctx, line))
	}
	command, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch command {
	case "/history":
		c.history(arg)
	case "/usage":
		c.usage()
	case "/retry":
		return c.reportedTurn(c.retry(ctx))
	case "/name":
		if arg == "" {
			fmt.Fprintln(c.out, "Usage: /name TEXT")
			return nil
		}
		if err := c.change(ctx, func(s session.Session) session.Session { return s.SetName(arg) }); err != nil {
			return c.reported(err)
		}
		fmt.Fprintf(c.out, "This session is now named %q.\n", arg)
	case "/clear":
		n := c.s.Len()
		if err := c.change(ctx, session.Session.ClearMessages); err != nil {
			return c.reported(err)
		}
		fmt.Fprintf(c.out, "Cleared %s; the token usage is kept.\n", plural(n, "message"))
	case "/summary":
		if text, through := c.s.Summary(); text != "" {
			fmt.Fprintf(c.out, "Summary of the first %s (they stay in the session; the model is sent this instead):\n%s\n", plural(through, "message"), text)
		} else {
			fmt.Fprintln(c.out, "No summary yet: the whole conversation still fits in the window, or /compact makes one.")
		}
	case "/compact":
		if err := c.update(ctx, 3, func(s session.Session, again bool) (session.Session, error) {
			return c.compact(ctx, s, true)
		}); err != nil {
			return c.reportedTurn(err)
		}
	case "/sessions":
		c.sessions(ctx)
	case "/new":
		if _, one := c.store.(*fileStore); one && c.stored {
			fmt.Fprintf(c.out, "This chat keeps one session, in %s: a new one would replace it at its first turn. "+
				"To keep both, run the chat with -file OTHER.json for the new one, or with -db sqlite:chats.db to keep many.\n", c.store)
			return nil
		}
		c.s, c.stored = session.New(c.backend()), false
		fmt.Fprintf(c.out, "New session %s; it is saved at its first turn.\n", c.s.ID())
	case "/switch":
		return c.reported(c.switchTo(ctx, arg))
	case "/help":
		fmt.Fprintf(c.out, "Type a message and press Enter; %s answers.\n%s\n%s", c.model.Name(), commands, flagHelp)
	case "/quit":
		c.stopped = true
	default:
		fmt.Fprintf(c.out, "Unknown command %s; type /help for the list.\n", command)
	}
	return nil
}

const flagHelp = `Flags (when starting the chat):
  -file PATH      keep the session in this JSON file (default chat-session.json)
  -db DSN         keep sessions in a database: sqlite:PATH or a postgres:// URL
  -model NAME     ask this model; alone, OpenAI's (API key in OPENAI_API_KEY)
  -base-url URL   at this Chat Completions endpoint (Ollama: http://localhost:11434/v1)
  -window TOKENS  the history sent, in tokens (default 8192)
  -price IN,CACHE_READ,CACHE_WRITE,OUT  prices per million tokens, for /usage
`

// reported reports the error of a turn or a command and goes on, unless the chat
// cannot: a context cancelled by Ctrl-C, or a store that failed to save. An error it
// reports does not change the exit status: a chat that goes on and ends normally exits
// with 0.
func (c *chat) reported(err error) error {
	var saveErr *saveError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.As(err, &saveErr):
		return err
	}
	fmt.Fprintf(c.errOut, "chat: %v\n", err)
	return nil
}

// reportedTurn is reported for a turn: one that was not answered makes the exit status
// 1 when the chat ends.
func (c *chat) reportedTurn(err error) error {
	if err != nil {
		c.failed = true
	}
	return c.reported(err)
}

// change applies f to the session and saves the result; if another chat changed the
// session meanwhile, it says so and applies f to the session as stored.
func (c *chat) change(ctx context.Context, f func(session.Session) session.Session) error {
	return c.update(ctx, 10, func(s session.Session, again bool) (session.Session, error) {
		if again {
			fmt.Fprintf(c.out, "This session was changed in another chat meanwhile: I loaded it again (%s).\n", plural(s.Len(), "message"))
		}
		return f(s), nil
	})
}

// update saves change(c.s), or, for a session changed in another chat meanwhile,
// change(the stored session) with again set, attempts times at most. A conflict after the
// last is an error the chat reports and goes on after; any other failure of the store
// ends the chat (a *saveError).
func (c *chat) update(ctx context.Context, attempts int, change func(s session.Session, again bool) (session.Session, error)) error {
	if !c.stored {
		next, err := change(c.s, false)
		if err != nil {
			return err
		}
		return c.save(ctx, c.s, next)
	}
	tries := 0
	var changeErr error
	next, err := c.store.update(ctx, c.s, func(s session.Session) (session.Session, error) {
		tries++
		next, err := change(s, tries > 1)
		changeErr = err
		return next, err
	}, attempts)
	switch {
	case changeErr != nil:
		return changeErr
	case errors.Is(err, sqlstore.ErrConflict):
		if err := c.reload(ctx); err != nil {
			return err
		}
		return fmt.Errorf("this session kept changing in another chat: %d tries; it is loaded again as it is now: %w", tries, err)
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		return &saveError{err}
	}
	c.s = next
	return nil
}

// reload loads the session from the store again.
func (c *chat) reload(ctx context.Context) error {
	s, err := c.store.load(ctx, c.s.ID())
	if err != nil {
		return &saveError{err}
	}
	c.s = s
	return nil
}

// saveError is a failure of the store, which ends the chat.
type saveError struct{ err error }

func (e *saveError) Error() string { return "saving the session in the store: " + e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// save commits next, made from base, which is c.s.
func (c *chat) save(ctx context.Context, base, next session.Session) error {
	if !c.stored {
		base = session.Session{}
	}
	if err := c.store.commit(ctx, base, next); err != nil {
		if errors.Is(err, sqlstore.ErrConflict) || errors.Is(err, context.Canceled) {
			return err
		}
		return &saveError{err}
	}
	c.s, c.stored = next, true
	return nil
}

// turn adds the user's message, asks the model until it answers in text, and saves the
// turn whole. If another chat changed the session meanwhile, it loads the session again,
// says so, and answers again.
func (c *chat) turn(ctx context.Context, text string) error {
	return c.answerAndSave(ctx, func(s session.Session) session.Session { return s.AddMessage("user", text) })
}

// retry answers the last user message again, from the session as it was before the last
// answer: a Truncate of it, which keeps the token usage of the answer it drops.
func (c *chat) retry(ctx context.Context) error {
	return c.answerAndSave(ctx, func(s session.Session) session.Session {
		for i, m := range s.Backward() {
			if m.Role == "user" {
				return s.Truncate(i + 1)
			}
		}
		return session.Session{}
	})
}

// answerAndSave asks the model to answer prepare(c.s) and saves the result; if another
// chat changed the session meanwhile, it answers prepare(the stored session) instead,
// counting the tokens of the answers it discards, which were paid for.
func (c *chat) answerAndSave(ctx context.Context, prepare func(session.Session) session.Session) error {
	var discarded, discardedEstimate session.TokenUsage // of answers that another chat's change made void
	var last, lastEstimate session.TokenUsage           // of the last answer
	nothing := errors.New("nothing to answer")
	err := c.update(ctx, 3, func(s session.Session, again bool) (session.Session, error) {
		if again {
			discarded, discardedEstimate = plus(discarded, last), plus(discardedEstimate, lastEstimate)
			fmt.Fprintf(c.out, "This session was changed in another chat meanwhile: I loaded it again (%s) and answer again; "+
				"the discarded answer's tokens stay counted.\n", plural(s.Len(), "message"))
		}
		question := prepare(s)
		if question.IsZero() {
			return s, nothing
		}
		if !discarded.IsZero() {
			question = withEstimate(question.UpdateTokenUsage(discarded), discardedEstimate) // paid for: counted
		}
		next, err := c.answer(ctx, question)
		last, lastEstimate = spent(question.TokenUsage(), next.TokenUsage()), spent(estimated(question), estimated(next))
		return next, err
	})
	if errors.Is(err, nothing) {
		fmt.Fprintln(c.out, "There is no message to answer again.")
		return nil
	}
	var save *saveError
	if err != nil && !errors.As(err, &save) && !errors.Is(err, sqlstore.ErrConflict) {
		// The turn failed, and saves none of its messages; what its answers used before
		// it failed (tool rounds, answers another chat's change made void) was paid for.
		paid, paidEstimate := plus(discarded, last), plus(discardedEstimate, lastEstimate)
		if !paid.IsZero() && c.update(context.WithoutCancel(ctx), 3, func(s session.Session, _ bool) (session.Session, error) {
			return withEstimate(s.UpdateTokenUsage(paid), paidEstimate), nil
		}) == nil {
			fmt.Fprintf(c.out, "The turn failed and none of its messages were saved; the tokens it used were paid for "+
				"and are counted in this session (%d in, %d out).\n", paid.InputTokens, paid.OutputTokens)
		}
	}
	return err
}

// answer asks the model about s, whose last message awaits an answer, runs the tools it
// calls, and returns s with the answer, or an error and nothing saved.
func (c *chat) answer(ctx context.Context, s session.Session) (session.Session, error) {
	for range maxToolRounds {
		if c.overflows(s) {
			var err error
			if s, err = c.compact(ctx, s, false); err != nil {
				return s, err
			}
		}
		window := s.Window(c.window, c.model.Count, windowOptions...)
		last, _ := s.LastMessage()
		if len(window) == 0 || !window[len(window)-1].Equal(last) {
			return s, fmt.Errorf("your message %w in the model's window of %d tokens (it takes %d); nothing was sent: shorten it, or raise -window",
				errDoesNotFit, c.window, c.model.Count(last))
		}
		streamed := false
		a, err := c.model.Answer(llm.WithCacheKey(ctx, s.ID()), window, func(text string) {
			streamed = true
			fmt.Fprint(c.out, text)
		})
		if streamed {
			fmt.Fprintln(c.out)
		}
		if err != nil {
			return s, err
		}
		c.reportUsage(a)
		opts := []session.MessageOption{session.WithUsage(a.Usage)}
		if a.Estimated {
			s = withEstimate(s, a.Usage)
			opts = append(opts, session.WithExtra(estimatedMark, true))
		}
		s = s.AddMessage("assistant", a.Content, append(a.Options, opts...)...) // the provider's own shape
		if len(a.Calls) == 0 {
			return s, nil
		}
		for _, call := range a.Calls {
			result := runTool(call)
			fmt.Fprintf(c.out, "  [tool %s: %s]\n", call.Function.Name, result)
			s = s.AddMessage("tool", result, toolResult(call)...)
		}
	}
	return s, fmt.Errorf("the model called tools %d times without answering; nothing was saved", maxToolRounds)
}

// toolResult returns the options of the tool message that answers call: its ID, or,
// for a call without one (Gemini's may have none), the tool's name.
func toolResult(call llm.ToolCall) []session.MessageOption {
	if call.ID == "" {
		return []session.MessageOption{session.WithExtra("name", call.Function.Name)}
	}
	return []session.MessageOption{session.WithExtra("tool_call_id", call.ID)}
}

func (c *chat) reportUsage(a llm.Answer) {
	u := a.Usage
	if _, local := c.model.(llm.Local); a.Estimated && !local && !c.saidEstimated {
		c.saidEstimated = true
		fmt.Fprintln(c.out, "  [the model's server reports no token usage: the chat counts what it sends and receives "+
			"with the o200k_base tokenizer, and keeps those counts marked as estimates]")
	}
	if a.Estimated {
		fmt.Fprintf(c.out, "  [about %d tokens in, %d out: an estimate, not a provider's count]\n", u.InputTokens, u.OutputTokens)
		return
	}
	fmt.Fprintf(c.out, "  [%d tokens in (%d cached), %d out (%d reasoning)]\n", u.InputTokens, u.CacheReadTokens, u.OutputTokens, u.ReasoningTokens)
}

func (c *chat) usage() {
	u := c.s.TokenUsage()
	fmt.Fprintf(c.out, "Tokens used: %d in (%d read from the cache, %d written to it), %d out (%d reasoning), %d in all.\n",
		u.InputTokens, u.CacheReadTokens, u.CacheWriteTokens, u.OutputTokens, u.ReasoningTokens, u.Total())
	if est := describeEstimate(u, estimated(c.s)); est != "" {
		fmt.Fprintln(c.out, est)
	}
	if c.price != nil {
		fmt.Fprintf(c.out, "Cost at -price %g,%g,%g,%g per million tokens: %.6f\n",
			c.price.Input, c.price.CacheRead, c.price.CacheWrite, c.price.Output, u.Cost(*c.price))
	}
}

func (c *chat) history(arg string) {
	n := 10
	if arg != "" {
		var err error
		if n, err = strconv.Atoi(arg); err != nil || n <= 0 {
			fmt.Fprintln(c.out, "Usage: /history [N], with N a positive number of messages.")
			return
		}
	}
	msgs := c.s.GetMessages(n)
	if len(msgs) == 0 {
		fmt.Fprintln(c.out, "No messages yet.")
		return
	}
	for _, m := range msgs {
		when := "(no time)          "
		if !m.Timestamp.IsZero() {
			when = m.Timestamp.Local().Format(time.DateTime)
		}
		text := m.Content
		if calls, ok := m.Extra["tool_calls"].([]any); ok {
			text = strings.TrimSpace(text + fmt.Sprintf(" [calls %s]", plural(len(calls), "tool")))
		}
		fmt.Fprintf(c.out, "%s  %-10s %s\n", when, m.Role+":", text)
	}
}

func (c *chat) sessions(ctx context.Context) {
	infos, err := c.store.list(ctx, 20)
	if err != nil {
		fmt.Fprintln(c.out, err)
		return
	}
	if len(infos) == 0 {
		fmt.Fprintln(c.out, "No sessions kept yet.")
		return
	}
	for _, i := range infos {
		mark := " "
		if i.ID == c.s.ID() {
			mark = "*"
		}
		fmt.Fprintf(c.out, "%s %s  %-20q %4d messages  %s\n", mark, i.ID, i.Name, i.Len, i.UpdatedAt.Local().Format(time.DateTime))
	}
}

// spent returns the tokens used from before to after, field by field.
func spent(before, after session.TokenUsage) session.TokenUsage {
	return session.TokenUsage{
		InputTokens:      after.InputTokens - before.InputTokens,
		OutputTokens:     after.OutputTokens - before.OutputTokens,
		CacheReadTokens:  after.CacheReadTokens - before.CacheReadTokens,
		CacheWriteTokens: after.CacheWriteTokens - before.CacheWriteTokens,
		ReasoningTokens:  after.ReasoningTokens - before.ReasoningTokens,
	}
}

// plus returns a and b added field by field.
func plus(a, b session.TokenUsage) session.TokenUsage {
	return session.TokenUsage{
		InputTokens:      a.InputTokens + b.InputTokens,
		OutputTokens:     a.OutputTokens + b.OutputTokens,
		CacheReadTokens:  a.CacheReadTokens + b.CacheReadTokens,
		CacheWriteTokens: a.CacheWriteTokens + b.CacheWriteTokens,
		ReasoningTokens:  a.ReasoningTokens + b.ReasoningTokens,
	}
}

func (c *chat) switchTo(ctx context.Context, id string) error {
	if id == "" {
		fmt.Fprintln(c.out, "Usage: /switch ID (see /sessions; the ID's first characters will do)")
		return nil
	}
	if _, ok := c.store.(*fileStore); ok {
		_, err := c.store.list(ctx, 1)
		return err
	}
	infos, err := c.store.list(ctx, 0)
	if err != nil {
		return err
	}
	var matches []string
	for _, i := range infos {
		if i.ID == id {
			matches = []string{id}
			break
		}
		if strings.HasPrefix(i.ID, id) {
			matches = append(matches, i.ID)
		}
	}
	switch len(matches) {
	case 0:
		return fmt.Errorf("/switch %s: no such session (see /sessions)", id)
	case 1:
		id = matches[0]
	default:
		return fmt.Errorf("/switch %s: %d sessions begin so; give more of the ID", id, len(matches))
	}
	s, err := c.store.load(ctx, id)
	if err != nil {
		return err
	}
	c.s, c.stored = s, true
	fmt.Fprintf(c.out, "Switched to %s: %s.\n", describe(s), plural(s.Len(), "message"))
	return nil
}
