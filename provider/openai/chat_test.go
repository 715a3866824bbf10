package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	sessionopenai "github.com/exllm-go/session/provider/openai"
)

// wire returns msgs as the SDK writes them in a request.
func wire(t *testing.T, msgs []openai.ChatCompletionMessageParamUnion) []map[string]any {
	t.Helper()
	data, err := json.Marshal(msgs)
	require.NoError(t, err)
	var out []map[string]any
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func TestMessages(t *testing.T) {
	calls := []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "current_time", "arguments": "{}"}}}
	s := session.New("openai").
		AddMessage("system", "Be brief.").
		AddMessage("user", "", session.WithParts(
			map[string]any{"type": "text", "text": "What is this?"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,AAAA"}})).
		AddMessage("assistant", "", session.WithExtra("tool_calls", calls), session.WithUsage(session.TokenUsage{InputTokens: 5})).
		AddMessage("tool", "12:00", session.WithExtra("tool_call_id", "call_1")).
		AddMessage("assistant", "Noon.", session.WithExtra("token_usage_estimated", true), session.WithExtra("reasoning_content", "hmm"))
	got := wire(t, sessionopenai.Messages(s.GetMessages(0)))
	want := []map[string]any{
		{"role": "system", "content": "Be brief."},
		{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": "What is this?"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,AAAA"}}}},
		{"role": "assistant", "content": nil, "tool_calls": calls},
		{"role": "tool", "content": "12:00", "tool_call_id": "call_1"},
		{"role": "assistant", "content": "Noon."},
	}
	assert.Equal(t, want, got, "no timestamp, no usage, none of the session's own marks")
}

func TestUsage(t *testing.T) {
	var u openai.CompletionUsage
	require.NoError(t, json.Unmarshal([]byte(`{"prompt_tokens":100,"completion_tokens":30,"total_tokens":130,
		"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":12}}`), &u))
	assert.Equal(t, session.TokenUsage{InputTokens: 100, OutputTokens: 30, CacheReadTokens: 64, ReasoningTokens: 12}, sessionopenai.Usage(u))
}

// chatServer is a test server, not a model: it speaks the Chat Completions streaming
// protocol (server-sent events of chat.completion.chunk, then a usage chunk, then
// [DONE]), answering each request with the next of answers, and records the bodies
// of the requests.
type chatServer struct {
	answers [][]string // each the data lines of one streamed answer
	bodies  []map[string]any
}

func (c *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	c.bodies = append(c.bodies, body)
	answer := c.answers[0]
	c.answers = c.answers[1:]
	w.Header().Set("Content-Type", "text/event-stream")
	for _, line := range answer {
		fmt.Fprintf(w, "data: %s\n\n", line)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// chunk returns a chat.completion.chunk with the given delta and finish reason.
func chunk(delta, finish string) string {
	if finish != "" {
		finish = `"` + finish + `"`
	} else {
		finish = "null"
	}
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}`
}

const usageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],
	"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":%d},"completion_tokens_details":{"reasoning_tokens":%d}}}`

// TestToolRoundThroughTheSDK drives a tool round through the SDK's streaming client
// and accumulator against the test server: the answers appended to the session are sent
// back in the next request as the server gave them, usage is totalled, and every
// request carries the session's prompt cache key.
func TestToolRoundThroughTheSDK(t *testing.T) {
	srv := &chatServer{answers: [][]string{
		{
			chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"current_time","arguments":""}}]}`, ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"tz\":"}}]}`, ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"UTC\"}"}}]}`, ""),
			chunk(`{}`, "tool_calls"),
			strings.ReplaceAll(fmt.Sprintf(usageChunk, 40, 9, 0, 0), "\n", ""),
		},
		{
			chunk(`{"role":"assistant","content":"It is "}`, ""),
			chunk(`{"content":"noon."}`, ""),
			chunk(`{}`, "stop"),
			strings.ReplaceAll(fmt.Sprintf(usageChunk, 60, 8, 32, 3), "\n", ""),
		},
	}}
	server := httptest.NewServer(srv)
	defer server.Close()
	client := openai.NewClient(option.WithBaseURL(server.URL+"/v1"), option.WithAPIKey("test"))

	s := session.New("openai").AddMessage("system", "Be brief.").AddMessage("user", "What time is it?")
	ask := func() {
		stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:          "m",
			Messages:       sessionopenai.Messages(s.Window(10000, nil, session.KeepSystem())),
			PromptCacheKey: openai.String(sessionopenai.PromptCacheKey(s)),
			StreamOptions:  openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		require.NoError(t, stream.Err())
		s = sessionopenai.AppendCompletion(s, acc.ChatCompletion)
	}
	ask()
	call, _ := s.LastMessage()
	assert.Equal(t, []any{map[string]any{"id": "call_7", "type": "function",
		"function": map[string]any{"name": "current_time", "arguments": `{"tz":"UTC"}`}}}, call.Extra["tool_calls"])
	s = s.AddMessage("tool", "12:00", session.WithExtra("tool_call_id", "call_7"))
	ask()
	answer, _ := s.LastMessage()
	assert.Equal(t, "It is noon.", answer.Content)
	assert.Equal(t, session.TokenUsage{InputTokens: 60, OutputTokens: 8, CacheReadTokens: 32, ReasoningTokens: 3}, answer.Usage())
	assert.Equal(t, session.TokenUsage{InputTokens: 100, OutputTokens: 17, CacheReadTokens: 32, ReasoningTokens: 3}, s.TokenUsage())

	require.Len(t, srv.bodies, 2)
	for _, body := range srv.bodies {
		assert.Equal(t, s.ID(), body["prompt_cache_key"])
	}
	sent := srv.bodies[1]["messages"].([]any)
	require.Len(t, sent, 4)
	assert.Equal(t, map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_7", "type": "function",
		"function": map[string]any{"name": "current_time", "arguments": `{"tz":"UTC"}`}}}}, sent[2], "the call, sent back as given")
	assert.Equal(t, map[string]any{"role": "tool", "content": "12:00", "tool_call_id": "call_7"}, sent[3])

	// Read back from its file, the session sends the same request again.
	data, err := s.ToJSON()
	require.NoError(t, err)
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	assert.Equal(t, wire(t, sessionopenai.Messages(s.GetMessages(0))), wire(t, sessionopenai.Messages(back.GetMessages(0))))
}

// TestRoundTripProperty: random conversations of text and tool rounds, each answer
// appended from a ChatCompletion the way the SDK decodes one, are sent back as the
// completions held them, before and after a JSON round trip of the session.
func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"hi", "café", "\u2028", `"quoted"`, "line\nbreak", ""}
	for round := range 200 {
		s := session.New("openai").AddMessage("system", words[r.IntN(len(words))])
		var completions []map[string]any // what the server said, in order
		for turn := range 1 + r.IntN(5) {
			s = s.AddMessage("user", words[r.IntN(len(words))])
			msg := map[string]any{"role": "assistant", "content": words[r.IntN(len(words))], "refusal": nil}
			if r.IntN(3) == 0 {
				msg["content"] = nil
				msg["tool_calls"] = []any{map[string]any{"id": fmt.Sprint("call_", round, "_", turn), "type": "function",
					"function": map[string]any{"name": "f", "arguments": fmt.Sprintf(`{"n":%d}`, r.IntN(9))}}}
			}
			raw, err := json.Marshal(map[string]any{"id": "x", "object": "chat.completion", "created": 1, "model": "m",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": msg}},
				"usage":   map[string]any{"prompt_tokens": r.IntN(100), "completion_tokens": r.IntN(100)}})
			require.NoError(t, err)
			var c openai.ChatCompletion
			require.NoError(t, json.Unmarshal(raw, &c))
			s = sessionopenai.AppendCompletion(s, c)
			delete(msg, "refusal")
			if msg["content"] == "" && msg["tool_calls"] != nil {
				msg["content"] = nil
			}
			completions = append(completions, msg)
			if calls, ok := msg["tool_calls"]; ok {
				id := calls.([]any)[0].(map[string]any)["id"]
				s = s.AddMessage("tool", "result", session.WithExtra("tool_call_id", id))
			}
		}
		data, err := s.ToJSON()
		require.NoError(t, err)
		back, err := session.FromJSON(data)
		require.NoError(t, err)
		for _, sess := range []session.Session{s, back} {
			var answers []map[string]any
			for _, m := range wire(t, sessionopenai.Messages(sess.GetMessages(0))) {
				if m["role"] == "assistant" {
					answers = append(answers, m)
				}
			}
			require.Equal(t, completions, answers, "round %d", round)
		}
	}
}
