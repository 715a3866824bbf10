package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// runAsChatEnv makes the test binary run the chat program itself, so that the tests
// run it end to end: a real process with piped input and an exit status.
const runAsChatEnv = "CHAT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsChatEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// chatIn runs the chat program in dir with input piped to it.
func chatIn(t *testing.T, dir, input string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsChatEnv+"=1")
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func load(t *testing.T, path string) session.Session {
	t.Helper()
	s, err := session.LoadFromFile(path)
	require.NoError(t, err)
	return s
}

func TestNewThenResumed(t *testing.T) {
	dir := t.TempDir()
	first := chatIn(t, dir, "hi\nwhat is up?\n")
	require.Equal(t, 0, first.code, first.stderr)
	assert.Contains(t, first.stdout, "New session; it will be saved in chat-session.json.")
	assert.Contains(t, first.stdout, `You said "hi". This is the first turn`)
	assert.Contains(t, first.stdout, `You said "what is up?". This is turn 2; you opened with "hi".`)
	assert.Contains(t, first.stdout, "an estimate, not a provider's count")
	assert.Empty(t, first.stderr)

	path := filepath.Join(dir, "chat-session.json")
	s := load(t, path)
	msgs := s.GetMessages(0)
	require.Len(t, msgs, 4)
	assert.Equal(t, []string{"user", "assistant", "user", "assistant"}, []string{msgs[0].Role, msgs[1].Role, msgs[2].Role, msgs[3].Role})
	assert.Equal(t, "what is up?", msgs[2].Content)
	assert.Positive(t, s.TokenUsage().InputTokens)
	assert.Positive(t, s.TokenUsage().OutputTokens)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	second := chatIn(t, dir, "/history\nand now?\n")
	require.Equal(t, 0, second.code, second.stderr)
	assert.Contains(t, second.stdout, "Resumed session "+s.ID()+" from chat-session.json: 4 messages, ")
	assert.Contains(t, second.stdout, "user:     hi\n")
	assert.Contains(t, second.stdout, `This is turn 3; you opened with "hi".`)

	resumed := load(t, path)
	assert.Equal(t, s.ID(), resumed.ID())
	assert.Equal(t, 6, resumed.Len())
	assert.Greater(t, resumed.TotalTokens(), s.TotalTokens(), "usage carries over and grows")
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chat-session.json")
	require.Equal(t, 0, chatIn(t, dir, "one\ntwo\nthree\n").code)
	before := load(t, path)

	tests := []struct {
		name, input string
		want        []string
		check       func(t *testing.T, s session.Session)
	}{
		{"history N", "/history 2\n", []string{"user:     three\n", "assistant: You said \"three\""}, func(t *testing.T, s session.Session) {
			assert.Equal(t, 6, s.Len())
		}},
		{"history rejects a bad N", "/history zero\n", []string{"Usage: /history [N]"}, nil},
		{"usage", "/usage\n", []string{"Tokens used (estimated, not a provider's count): ", " in all."}, nil},
		{"name", "/name Work chat\n", []string{`This session is now named "Work chat".`}, func(t *testing.T, s session.Session) {
			assert.Equal(t, "Work chat", s.Name())
		}},
		{"name without text", "/name\n", []string{"Usage: /name TEXT"}, nil},
		{"help", "/help\n", []string{"/history [N]", "/usage", "/name TEXT", "/clear", "/quit"}, nil},
		{"unknown command", "/frobnicate\n", []string{"Unknown command /frobnicate; type /help for the list."}, nil},
		{"quit stops reading", "/quit\nnot sent\n", nil, func(t *testing.T, s session.Session) {
			assert.Equal(t, 6, s.Len())
		}},
		{"clear keeps usage", "/clear\n", []string{"Cleared 6 messages; the token usage is kept."}, func(t *testing.T, s session.Session) {
			assert.Equal(t, 0, s.Len())
			assert.Equal(t, before.TokenUsage(), s.TokenUsage())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := t.TempDir()
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(run, "chat-session.json"), data, 0o600))

			r := chatIn(t, run, tt.input)
			require.Equal(t, 0, r.code, r.stderr)
			for _, w := range tt.want {
				assert.Contains(t, r.stdout, w)
			}
			assert.NotContains(t, r.stdout, "not sent")
			if tt.check != nil {
				tt.check(t, load(t, filepath.Join(run, "chat-session.json")))
			}
		})
	}
}

func TestFileFlag(t *testing.T) {
	dir := t.TempDir()
	r := chatIn(t, dir, "hello\n", "-file", "other.json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "saved in other.json")
	assert.Equal(t, 2, load(t, filepath.Join(dir, "other.json")).Len())
	_, err := os.Stat(filepath.Join(dir, "chat-session.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestCorruptFile(t *testing.T) {
	for _, tt := range []struct{ name, content, want string }{
		{"not JSON", "garbage\n", "invalid character 'g'"},
		{"wrong field type", `{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[{"role":7,"content":"a"}]}`, "messages[0].role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "chat-session.json")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
			r := chatIn(t, dir, "hi\n")
			assert.NotEqual(t, 0, r.code)
			assert.Contains(t, r.stderr, "chat-session.json")
			assert.Contains(t, r.stderr, tt.want)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.content, string(data), "the file must be left untouched")
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, "chat-session.json"), 0o700))
		r := chatIn(t, dir, "hi\n")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "chat-session.json")
		assert.Contains(t, r.stderr, "is a directory")
	})
}

func TestRespondSeesTheHistory(t *testing.T) {
	s := session.New("local").AddMessage("user", "first").AddMessage("assistant", "ok").AddMessage("user", "second")
	reply := respond(s, s.GetMessages(1))
	assert.Equal(t, `You said "second". This is turn 2; you opened with "first". I was sent the last 1 of 3 messages, all that fit my context window.`, reply)
}
