package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/llm"
)

// modelServer is a test server on 127.0.0.1 that speaks the Chat Completions protocol
// as OpenAI documents it: it answers each request with the next of its scripted replies,
// streamed as server-sent events, and records the requests. It is no model: what the
// chat shows in these tests is what this server sent.
type modelServer struct {
	*httptest.Server
	mu       sync.Mutex
	replies  []reply
	requests []map[string]any
	headers  []http.Header // of the requests, in order
	arrived  chan struct{} // a request arrived
	// auto, if set, answers the requests that come when no scripted reply is left.
	auto func(request map[string]any) reply
}

// reply is a scripted answer: an error status, or chunks of a stream.
type reply struct {
	status int      // an error status, answered with an error body
	chunks []string // the data of the stream's events; "[DONE]" ends it
	hang   bool     // after the chunks, wait until the client goes away
}

func newModelServer(t *testing.T, replies ...reply) *modelServer {
	s := &modelServer{replies: replies, arrived: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *modelServer) baseURL() string { return s.URL + "/v1" }

func (s *modelServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var body map[string]any
	data, _ := io.ReadAll(r.Body)
	json.Unmarshal(data, &body)
	s.mu.Lock()
	s.requests = append(s.requests, body)
	s.headers = append(s.headers, r.Header.Clone())
	var rep reply
	switch {
	case len(s.replies) > 0:
		rep = s.replies[0]
		if rep.status == 0 { // error replies repeat, for the client's retries
			s.replies = s.replies[1:]
		}
	case s.auto != nil:
		rep = s.auto(body)
	}
	s.mu.Unlock()
	s.arrived <- struct{}{}
	if rep.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After-Ms", "10") // the client retries soon
		w.WriteHeader(rep.status)
		fmt.Fprintf(w, `{"error":{"message":"scripted failure %d","type":"test","code":"scripted"}}`, rep.status)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	for _, c := range rep.chunks {
		fmt.Fprintf(w, "data: %s\n\n", c)
		flusher.Flush()
	}
	if rep.hang {
		<-r.Context().Done()
	}
}

func (s *modelServer) recorded() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// chunk returns the JSON of a stream chunk with the given delta and finish reason.
func chunk(delta string, finish string) string {
	f := "null"
	if finish != "" {
		f = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764068400,"model":"test-model","choices":[{"index":0,"delta":` +
		delta + `,"finish_reason":` + f + `}]}`
}

// usageChunk is the last chunk of a stream asked to include usage.
func usageChunk(prompt, cached, completion, reasoning int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764068400,"model":"test-model","choices":[],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d},`+
		`"completion_tokens_details":{"reasoning_tokens":%d}}}`, prompt, completion, prompt+completion, cached, reasoning)
}

// textReply streams text in pieces, then usage.
func textReply(usage string, pieces ...string) reply {
	var chunks []string
	for i, p := range pieces {
		delta, _ := json.Marshal(map[string]string{"content": p})
		if i == 0 {
			delta, _ = json.Marshal(map[string]string{"role": "assistant", "content": p})
		}
		chunks = append(chunks, chunk(string(delta), ""))
	}
	chunks = append(chunks, chunk(`{}`, "stop"), usage, "[DONE]")
	return reply{chunks: chunks}
}

// toolReply streams a call of current_time, its arguments in pieces.
func toolReply(id string) reply {
	return reply{chunks: []string{
		chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"`+id+`","type":"function","function":{"name":"current_time","arguments":""}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}`, ""),
		chunk(`{}`, "tool_calls"),
		usageChunk(40, 0, 9, 0),
		"[DONE]",
	}}
}

func messagesOf(request map[string]any) []map[string]any {
	var out []map[string]any
	for _, m := range request["messages"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

func TestAnswerStreamedWithUsage(t *testing.T) {
	server := newModelServer(t, textReply(usageChunk(2000, 1500, 300, 200), "Hel", "lo", " there!"))
	dir := t.TempDir()
	r := chatIn(t, dir, "hi\n/usage\n", "-base-url", server.baseURL(), "-model", "test-model", "-price", "2.5,1.25,0,10")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Hello there!\n  [2000 tokens in (1500 cached), 300 out (200 reasoning)]")
	assert.Contains(t, r.stdout, "Tokens used: 2000 in (1500 read from the cache, 0 written to it), 300 out (200 reasoning), 2300 in all.")
	assert.Contains(t, r.stdout, "Cost at -price 2.5,1.25,0,10 per million tokens: 0.006125")

	requests := server.recorded()
	require.Len(t, requests, 1)
	req := requests[0]
	assert.Equal(t, "test-model", req["model"])
	assert.Equal(t, true, req["stream"])
	assert.Equal(t, map[string]any{"include_usage": true}, req["stream_options"])
	assert.Contains(t, fmt.Sprint(req["tools"]), "current_time")
	assert.Equal(t, []map[string]any{{"role": "user", "content": "hi"}}, messagesOf(req))

	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Equal(t, []string{"user", "assistant"}, roles(msgs))
	assert.Equal(t, "Hello there!", msgs[1].Content)
	u := msgs[1].Usage()
	assert.Equal(t, [4]int{2000, 1500, 300, 200}, [4]int{u.InputTokens, u.CacheReadTokens, u.OutputTokens, u.ReasoningTokens})
	assert.Equal(t, u, s.TokenUsage())
}

// TestEndpointWithoutUsage talks to a server that streams no usage though asked for it,
// as some compatible servers and mocks do: the chat says so once, records the o200k_base
// counts of what it sent and received, marked as estimates, and /usage tells them from
// the provider's counts.
func TestEndpointWithoutUsage(t *testing.T) {
	server := newModelServer(t,
		textReply(usageChunk(100, 0, 10, 0), "Measured."),
		textReply(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764068400,"model":"test-model","choices":[]}`, "Not ", "measured."),
		textReply(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764068400,"model":"test-model","choices":[]}`, "Nor this."))
	dir := t.TempDir()
	r := chatIn(t, dir, "one\ntwo\nthree\n/usage\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 1, bytes.Count([]byte(r.stdout), []byte("reports no token usage")), "said once:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "an estimate, not a provider's count")

	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Len(t, msgs, 6)
	assert.Nil(t, msgs[1].Extra["token_usage_estimated"], "the provider's count")
	var est [2]int
	for _, m := range []int{3, 5} {
		assert.Equal(t, true, msgs[m].Extra["token_usage_estimated"])
		u := msgs[m].Usage()
		assert.Positive(t, u.InputTokens)
		assert.Positive(t, u.OutputTokens)
		est[0] += u.InputTokens
		est[1] += u.OutputTokens
	}
	tokens, err := llm.O200k()
	require.NoError(t, err)
	assert.Equal(t, tokens("Not measured."), msgs[3].Usage().OutputTokens, "the o200k_base count of the answer")
	total := s.TokenUsage()
	assert.Equal(t, 100+est[0], total.InputTokens)
	assert.Contains(t, r.stdout, fmt.Sprintf("Of it, %d in and %d out are estimated; 100 in and 10 out were measured by the provider.", est[0], est[1]))
}

func TestToolCall(t *testing.T) {
	server := newModelServer(t, toolReply("call_1"), textReply(usageChunk(60, 0, 8, 0), "It is noon."),
		textReply(usageChunk(70, 0, 3, 0), "Bye."))
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\nthanks\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	t.Logf("the chat's output, answering this test server:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "  [40 tokens in (0 cached), 9 out (0 reasoning)]\n  [tool current_time: 2026-11-25T12:00:00+01:00]")
	assert.Contains(t, r.stdout, "It is noon.")

	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Equal(t, []string{"user", "assistant", "tool", "assistant", "user", "assistant"}, roles(msgs))
	calls := msgs[1].Extra["tool_calls"].([]any)
	call := calls[0].(map[string]any)
	assert.Equal(t, "call_1", call["id"])
	assert.Equal(t, map[string]any{"name": "current_time", "arguments": "{}"}, call["function"], "arguments streamed in pieces, joined")
	assert.Equal(t, "call_1", msgs[2].Extra["tool_call_id"])
	assert.Equal(t, "2026-11-25T12:00:00+01:00", msgs[2].Content)
	assert.Equal(t, 40+60+70, s.TokenUsage().InputTokens)

	requests := server.recorded()
	require.Len(t, requests, 3)
	second := messagesOf(requests[1])
	require.Len(t, second, 3)
	assert.Equal(t, "assistant", second[1]["role"])
	assert.Equal(t, "call_1", second[1]["tool_calls"].([]any)[0].(map[string]any)["id"])
	assert.Equal(t, map[string]any{"role": "tool", "content": "2026-11-25T12:00:00+01:00", "tool_call_id": "call_1"}, second[2])
}

// TestWindowKeepsToolPairs sends a later turn with a window too small for the whole
// history: the request never holds a tool result without its call, nor a call without
// its result.
func TestWindowKeepsToolPairs(t *testing.T) {
	server := newModelServer(t, toolReply("call_1"), textReply(usageChunk(60, 0, 8, 0), "It is noon."))
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	sent := map[int]bool{} // how many messages the requests held
	for _, window := range []int{8, 16, 24, 32, 44, 60, 90} {
		// A summary first, if the history no longer fits, then the answer.
		server.replies = []reply{textReply(usageChunk(1, 0, 1, 0), "ok"), textReply(usageChunk(1, 0, 1, 0), "ok")}
		r := chatIn(t, dir, "and now?\n", "-base-url", server.baseURL(), "-model", "test-model", "-window", fmt.Sprint(window))
		if r.code != 0 {
			assert.Contains(t, r.stderr, "does not fit")
			continue
		}
		requests := server.recorded()
		msgs := messagesOf(requests[len(requests)-1])
		sent[len(msgs)] = true
		for i, m := range msgs {
			if m["role"] == "tool" {
				require.Greater(t, i, 0, "window %d: the request begins with a tool result", window)
				require.Contains(t, msgs[i-1], "tool_calls", "window %d: a tool result without its call", window)
			}
			if _, ok := m["tool_calls"]; ok {
				require.Less(t, i+1, len(msgs), "window %d: a call without its result", window)
				require.Equal(t, "tool", msgs[i+1]["role"], "window %d: a call without its result", window)
			}
		}
	}
	assert.GreaterOrEqual(t, len(sent), 3, "the windows cut the history in several places: %v", sent)
}

func TestModelFailuresSaveNothing(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		want  string
	}{
		{"rate limited", reply{status: 429}, "the model's server is rate limiting or out of quota (HTTP 429"},
		{"server error", reply{status: 500}, "the model's server failed (HTTP 500"},
		{"bad key", reply{status: 401}, "refused the API key"},
		{"stream cut off", reply{chunks: []string{chunk(`{"role":"assistant","content":"Half an ans"}`, "")}}, "cut off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newModelServer(t, tt.reply)
			dir := t.TempDir()
			r := chatIn(t, dir, "hi\n", "-base-url", server.baseURL(), "-model", "test-model")
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, tt.want)
			assert.Contains(t, r.stdout, "nothing was saved")
			_, err := os.Stat(filepath.Join(dir, "chat-session.json"))
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing saved")
		})
	}
}

func TestRetry(t *testing.T) {
	server := newModelServer(t, textReply(usageChunk(10, 0, 2, 0), "Blue."), textReply(usageChunk(10, 0, 3, 0), "Green."))
	dir := t.TempDir()
	r := chatIn(t, dir, "Name a color.\n/retry\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Equal(t, []string{"user", "assistant"}, roles(msgs))
	assert.Equal(t, "Green.", msgs[1].Content)
	assert.Equal(t, 10+10, s.TokenUsage().InputTokens, "the old answer's usage stays counted")
	assert.Equal(t, 2+3, s.TokenUsage().OutputTokens)
	second := messagesOf(server.recorded()[1])
	assert.Equal(t, []map[string]any{{"role": "user", "content": "Name a color."}}, second, "asked again without the old answer")

	// After a restart, from the history.
	server.replies = []reply{textReply(usageChunk(10, 0, 4, 0), "Red.")}
	r = chatIn(t, dir, "/retry\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "Red.", load(t, filepath.Join(dir, "chat-session.json")).GetMessages(1)[0].Content)
}

// TestCtrlC interrupts the chat while an answer streams: the request is cancelled,
// nothing of the half answer is saved, and the chat exits 130.
func TestCtrlC(t *testing.T) {
	server := newModelServer(t, textReply(usageChunk(10, 0, 2, 0), "First."),
		reply{chunks: []string{chunk(`{"role":"assistant","content":"Half an"}`, "")}, hang: true})
	dir := t.TempDir()
	cmd := chatCommand(dir, "-base-url", server.baseURL(), "-model", "test-model")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	fmt.Fprintln(stdin, "one")
	<-server.arrived
	fmt.Fprintln(stdin, "two")
	<-server.arrived
	time.Sleep(200 * time.Millisecond) // the half answer streams
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 130, exit.ExitCode(), stderr.String())
	assert.Contains(t, stdout.String(), "Interrupted: the answer was cancelled and not saved")
	s := load(t, filepath.Join(dir, "chat-session.json"))
	assert.Equal(t, []string{"user", "assistant"}, roles(s.GetMessages(0)), "the session as of the last whole turn")
	stdin.Close()
}

// TestLongConversationCompacts holds a long conversation with a small window, against
// the test server, which answers summary requests with a numbered summary: every
// request stays within the window, carries the latest summary once there is one,
// mostly repeats the previous request's beginning, and the saved session keeps every
// message; the summaries' calls are counted in the usage.
func TestLongConversationCompacts(t *testing.T) {
	summaries := 0
	server := newModelServer(t)
	server.auto = func(req map[string]any) reply {
		msgs := messagesOf(req)
		if msgs[0]["content"] == llm.SummaryInstructions {
			summaries++
			return textReply(usageChunk(10, 0, 5, 0), fmt.Sprintf("SUMMARY %d of the talk so far.", summaries))
		}
		return textReply(usageChunk(10, 0, 5, 0), fmt.Sprintf("An answer to %q.", msgs[len(msgs)-1]["content"]))
	}
	const turns, window = 40, 400
	var input strings.Builder
	for i := range turns {
		fmt.Fprintf(&input, "Question %d: what do you make of the window, the cache and the prefix of this chat?\n", i)
	}
	input.WriteString("/summary\n/usage\n")
	dir := t.TempDir()
	r := chatIn(t, dir, input.String(), "-base-url", server.baseURL(), "-model", "test-model", "-window", fmt.Sprint(window))
	require.Equal(t, 0, r.code, r.stderr)

	tokens, err := llm.O200k()
	require.NoError(t, err)
	model := llm.NewOpenAI("", "test-model", "", tokens)
	var previous []map[string]any
	compacted := false
	asked, repeated, sent := 0, 0, 0
	server.mu.Lock()
	headers := server.headers
	server.mu.Unlock()
	for i, req := range server.recorded() {
		msgs := messagesOf(req)
		if msgs[0]["content"] == llm.SummaryInstructions {
			assert.Equal(t, "summary", headers[i].Get(llm.PurposeHeader), "a summary call says so")
			compacted = true
			continue
		}
		assert.Empty(t, headers[i].Get(llm.PurposeHeader), "a turn says nothing")
		asked++
		used := 0
		for _, m := range msgs {
			content, _ := m["content"].(string)
			used += model.Count(session.Message{Role: m["role"].(string), Content: content})
		}
		require.LessOrEqual(t, used, window, "request %d exceeds the window", asked)
		if compacted {
			assert.True(t, strings.HasPrefix(msgs[0]["content"].(string), "SUMMARY"), "request %d carries no summary", asked)
		}
		same := 0
		for same < len(previous) && same < len(msgs) && fmt.Sprint(previous[same]) == fmt.Sprint(msgs[same]) {
			same++
		}
		repeated += same
		sent += len(msgs)
		previous = msgs
	}
	require.Equal(t, turns, asked)
	require.Greater(t, summaries, 1, "the conversation was compacted more than once")
	t.Logf("%d answers, %d summaries; %d of %d messages sent repeated the previous request's", asked, summaries, repeated, sent)
	assert.Greater(t, float64(repeated), 0.6*float64(sent), "requests repeat their prefix")

	s := load(t, filepath.Join(dir, "chat-session.json"))
	require.Equal(t, 2*turns, s.Len(), "every message is kept")
	for i := range turns {
		assert.True(t, strings.HasPrefix(s.MessageAt(2*i).Content, fmt.Sprintf("Question %d:", i)))
	}
	text, through := s.Summary()
	assert.Equal(t, fmt.Sprintf("SUMMARY %d of the talk so far.", summaries), text)
	assert.Positive(t, through)
	assert.Contains(t, r.stdout, "Summary of the first")
	assert.Contains(t, r.stdout, text)
	assert.Equal(t, 10*(asked+summaries), s.TokenUsage().InputTokens, "the summaries' calls are counted")
}
