package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
)

// runAsChatEnv makes the test binary run the chat program itself, so that the tests
// run it end to end: a real process with piped input, signals and an exit status.
const runAsChatEnv = "CHAT_TEST_RUN_MAIN"

// testNowEnv sets the clock of the current_time tool in the chat the tests run.
const testNowEnv = "CHAT_TEST_NOW"

func TestMain(m *testing.M) {
	if os.Getenv(runAsChatEnv) == "1" {
		if at, err := time.Parse(time.RFC3339, os.Getenv(testNowEnv)); err == nil {
			now = func() time.Time { return at }
		}
		main()
		return
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// chatCommand returns the chat program, to run in dir.
func chatCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsChatEnv+"=1", testNowEnv+"=2026-11-25T12:00:00+01:00", "OPENAI_API_KEY=test-key")
	return cmd
}

// chatIn runs the chat program in dir with input piped to it.
func chatIn(t *testing.T, dir, input string, args ...string) result {
	t.Helper()
	cmd := chatCommand(dir, args...)
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

func roles(msgs []session.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Role)
	}
	return out
}

func TestNewThenResumed(t *testing.T) {
	dir := t.TempDir()
	first := chatIn(t, dir, "hi\nwhat is up?\n")
	require.Equal(t, 0, first.code, first.stderr)
	assert.Contains(t, first.stdout, "New session; it will be saved in chat-session.json.")
	assert.Contains(t, first.stdout, `You said "hi". It is the only question I was sent (1 message in all).`)
	assert.Contains(t, first.stdout, `You said "what is up?". I was sent 2 of your messages; the oldest I see is "hi" (3 messages in all).`)
	assert.Contains(t, first.stdout, "an estimate, not a provider's count")
	assert.Empty(t, first.stderr)

	path := filepath.Join(dir, "chat-session.json")
	s := load(t, path)
	msgs := s.GetMessages(0)
	assert.Equal(t, []string{"user", "assistant", "user", "assistant"}, roles(msgs))
	assert.Equal(t, "what is up?", msgs[2].Content)
	assert.Positive(t, msgs[1].Usage().OutputTokens, "each answer records its usage")
	assert.Positive(t, s.TokenUsage().InputTokens)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	second := chatIn(t, dir, "/history\nand now?\n")
	require.Equal(t, 0, second.code, second.stderr)
	assert.Contains(t, second.stdout, "Resumed session "+s.ID()+" from chat-session.json: 4 messages, ")
	assert.Contains(t, second.stdout, "user:      hi\n")
	assert.Contains(t, second.stdout, `I was sent 3 of your messages; the oldest I see is "hi"`)
	resumed := load(t, path)
	assert.Equal(t, 6, resumed.Len())
	assert.Greater(t, resumed.TotalTokens(), s.TotalTokens(), "usage carries over and grows")
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chat-session.json")
	require.Equal(t, 0, chatIn(t, dir, "one\ntwo\nthree\n").code)
	before := load(t, path)

	r := chatIn(t, dir, "/history 2\n/usage\n/name My chat\n/bogus\n/help\n/clear\n/history\n/quit\nnot read\n")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(r.stdout, "\n")
	var history []string
	for _, l := range lines {
		if strings.Contains(l, "user: ") || strings.Contains(l, "assistant: ") {
			history = append(history, l)
		}
	}
	require.Len(t, history, 2)
	assert.Contains(t, history[0], "user:      three")
	// The columns line up: the content starts at the same place after either role.
	assert.Equal(t, strings.Index(history[0], "three"), strings.Index(history[1], "You said"))
	assert.Contains(t, r.stdout, "Tokens used: ")
	assert.Contains(t, r.stdout, "All of it is estimated")
	assert.Contains(t, r.stdout, `This session is now named "My chat".`)
	assert.Contains(t, r.stdout, "Unknown command /bogus")
	assert.Contains(t, r.stdout, "/history [N]")
	assert.Contains(t, r.stdout, "-base-url URL", "/help shows the flags")
	assert.Contains(t, r.stdout, "Cleared 6 messages; the token usage is kept.")
	assert.Contains(t, r.stdout, "No messages yet.")

	after := load(t, path)
	assert.Equal(t, "My chat", after.Name())
	assert.Equal(t, 0, after.Len())
	assert.Equal(t, before.TokenUsage(), after.TokenUsage())
}

func TestFlagsAndArguments(t *testing.T) {
	dir := t.TempDir()
	r := chatIn(t, dir, "hi\n", "-file", "other.json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "saved in other.json")
	assert.Equal(t, 2, load(t, filepath.Join(dir, "other.json")).Len())

	r = chatIn(t, dir, "hi\n", "other.json")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `unexpected argument "other.json"`)

	r = chatIn(t, dir, "", "-help")
	assert.Contains(t, r.stderr, "-base-url")
	assert.Contains(t, r.stderr, "/retry")

	r = chatIn(t, dir, "", "-base-url", "http://127.0.0.1:1/v1")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "-base-url needs -model")
	r = chatIn(t, dir, "", "-price", "1,2")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "four prices")
}

func TestFileInAMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	r := chatIn(t, dir, "hi\n", "-file", "nowhere/chat.json")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "the directory nowhere does not exist; create it (mkdir -p nowhere) or pass another -file")
	assert.NotContains(t, r.stdout, "You said", "no turn is taken that could not be saved")
}

func TestNothingSavedIsSaid(t *testing.T) {
	dir := t.TempDir()
	r := chatIn(t, dir, "/usage\n/history\n")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "No messages yet: nothing was saved in chat-session.json.")
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
}

func TestLongLinesAndSmallWindows(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("word ", 400_000) // 2 MB on one line
	r := chatIn(t, dir, long+"\nshort\n")
	assert.Equal(t, 1, r.code, "a turn failed")
	assert.Contains(t, r.stderr, "your message does not fit in the model's window of 8192 tokens (it takes 500005); nothing was sent")
	assert.Contains(t, r.stdout, `You said "short".`, "the chat goes on")
	s := load(t, filepath.Join(dir, "chat-session.json"))
	assert.Equal(t, []string{"user", "assistant"}, roles(s.GetMessages(0)), "the message that did not fit is not saved")

	r = chatIn(t, dir, "a question longer than a tiny window allows\n", "-window", "10")
	assert.Contains(t, r.stderr, "does not fit in the model's window of 10 tokens")
	assert.NotContains(t, r.stdout, "I was sent the last 0")
}

// TestCtrlD runs the chat as on a terminal: at the end of input it ends the line of its
// prompt, so that the shell's prompt starts on a line of its own.
func TestCtrlD(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	code := run([]string{"-file", filepath.Join(dir, "c.json")}, strings.NewReader("hi\n"), &out, &errOut, true)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "\n> \n", "the last prompt is ended at Ctrl-D")
}
