package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseServer is a test server on 127.0.0.1 that answers the requests to one path with
// scripted streams of server-sent events, as a provider's streaming protocol sends them,
// and records the requests' bodies. It is no model: what the chat shows in these tests
// is what this server sent.
type sseServer struct {
	*httptest.Server
	mu       sync.Mutex
	path     string
	replies  [][]string // each the events of a stream, "event: ...\ndata: ..." or "data: ..."
	requests []map[string]any
}

func newSSEServer(t *testing.T, path string, replies ...[]string) *sseServer {
	s := &sseServer{path: path, replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != s.path || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"no such path: `+r.URL.Path+`"}}`, http.StatusNotFound)
			return
		}
		var body map[string]any
		data, _ := io.ReadAll(r.Body)
		json.Unmarshal(data, &body)
		s.mu.Lock()
		s.requests = append(s.requests, body)
		if len(s.replies) == 0 {
			s.mu.Unlock()
			http.Error(w, `{"error":{"message":"no reply scripted"}}`, http.StatusInternalServerError)
			return
		}
		events := s.replies[0]
		s.replies = s.replies[1:]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "%s\n\n", e)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sseServer) recorded() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

// anthropicEvent returns an event of the Messages API's stream.
func anthropicEvent(data string) string {
	var head struct{ Type string }
	json.Unmarshal([]byte(data), &head)
	return "event: " + head.Type + "\ndata: " + data
}

func anthropicStart(in, read, write int) string {
	return anthropicEvent(fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"usage":{"input_tokens":%d,"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d,"output_tokens":1}}}`, in, read, write))
}

const anthropicSignature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds=="

// TestAnthropicToolRound: the chat with -provider anthropic calls current_time through
// the SDK against a test server of the Messages API: the thinking block goes back with
// its signature, the tool_result answers the tool_use, the requests carry 1 to 4 cache
// markers with the previous request's end marked again, and usage counts the cache.
func TestAnthropicToolRound(t *testing.T) {
	server := newSSEServer(t, "/v1/messages", []string{
		anthropicStart(20, 0, 300),
		anthropicEvent(`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
		anthropicEvent(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The time is asked."}}`),
		anthropicEvent(`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"` + anthropicSignature + `"}}`),
		anthropicEvent(`{"type":"content_block_stop","index":0}`),
		anthropicEvent(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"current_time","input":{}}}`),
		anthropicEvent(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`),
		anthropicEvent(`{"type":"content_block_stop","index":1}`),
		anthropicEvent(`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}`),
		anthropicEvent(`{"type":"message_stop"}`),
	}, []string{
		anthropicStart(15, 300, 40),
		anthropicEvent(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		anthropicEvent(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It is noon."}}`),
		anthropicEvent(`{"type":"content_block_stop","index":0}`),
		anthropicEvent(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`),
		anthropicEvent(`{"type":"message_stop"}`),
	})
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\n", "-provider", "anthropic", "-base-url", server.URL, "-model", "claude-test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "[tool current_time: 2026-11-25T12:00:00+01:00]")
	assert.Contains(t, r.stdout, "It is noon.")

	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Equal(t, []string{"user", "assistant", "tool", "assistant"}, roles(msgs))
	assert.Equal(t, anthropicSignature, msgs[1].Parts[0]["signature"], "kept in the session")
	total := s.TokenUsage()
	assert.Equal(t, [4]int{320 + 355, 35, 300, 340}, [4]int{total.InputTokens, total.OutputTokens, total.CacheReadTokens, total.CacheWriteTokens})

	requests := server.recorded()
	require.Len(t, requests, 2)
	second := requests[1]["messages"].([]any)
	require.Len(t, second, 3)
	blocks := second[1].(map[string]any)["content"].([]any)
	assert.Equal(t, map[string]any{"type": "thinking", "thinking": "The time is asked.", "signature": anthropicSignature}, blocks[0])
	assert.Equal(t, "tool_use", blocks[1].(map[string]any)["type"])
	result := second[2].(map[string]any)["content"].([]any)[0].(map[string]any)
	assert.Equal(t, "toolu_01", result["tool_use_id"])
	for i, req := range requests {
		data, _ := json.Marshal(req)
		n := strings.Count(string(data), `"cache_control"`)
		assert.True(t, n >= 1 && n <= 4, "request %d: %d markers", i, n)
	}
	first := requests[0]["messages"].([]any)
	assert.Contains(t, fmt.Sprint(first[0]), "cache_control", "the question, marked at the end of the first request")
	assert.Contains(t, fmt.Sprint(second[0]), "cache_control", "and marked again in the next: a prefix it repeats")
}

// TestGeminiToolRound: the chat with -provider gemini calls current_time through the
// SDK against a test server of streamGenerateContent: the thoughtSignature goes back on
// its part, the functionResponse is named after the call, and usage is the last chunk's.
func TestGeminiToolRound(t *testing.T) {
	usage := func(prompt, cached, candidates, thoughts int) string {
		return fmt.Sprintf(`"usageMetadata":{"promptTokenCount":%d,"cachedContentTokenCount":%d,"candidatesTokenCount":%d,"thoughtsTokenCount":%d}`, prompt, cached, candidates, thoughts)
	}
	server := newSSEServer(t, "/v1beta/models/gemini-test:streamGenerateContent", []string{
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"The time is asked.","thought":true}]}}],` + usage(30, 0, 0, 6) + `}`,
		`data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"current_time","args":{}},"thoughtSignature":"c2lnbmF0dXJl"}]},"finishReason":"STOP"}],` + usage(30, 0, 4, 6) + `}`,
	}, []string{
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]}}],` + usage(50, 20, 1, 0) + `}`,
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"noon."}]},"finishReason":"STOP"}],` + usage(50, 20, 3, 0) + `}`,
	})
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\n", "-provider", "gemini", "-base-url", server.URL, "-model", "gemini-test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "[tool current_time: 2026-11-25T12:00:00+01:00]")
	assert.Contains(t, r.stdout, "It is noon.")

	s := load(t, filepath.Join(dir, "chat-session.json"))
	msgs := s.GetMessages(0)
	require.Equal(t, []string{"user", "assistant", "tool", "assistant"}, roles(msgs))
	total := s.TokenUsage()
	assert.Equal(t, [4]int{80, 13, 20, 6}, [4]int{total.InputTokens, total.OutputTokens, total.CacheReadTokens, total.ReasoningTokens},
		"the last chunk's usage of each answer, thoughts counted as output")

	requests := server.recorded()
	require.Len(t, requests, 2)
	second := requests[1]["contents"].([]any)
	require.Len(t, second, 3)
	assert.Equal(t, map[string]any{"role": "model", "parts": []any{
		map[string]any{"text": "The time is asked.", "thought": true},
		map[string]any{"functionCall": map[string]any{"name": "current_time"}, "thoughtSignature": "c2lnbmF0dXJl"}, // the SDK omits empty args
	}}, second[1])
	response := second[2].(map[string]any)["parts"].([]any)[0].(map[string]any)["functionResponse"].(map[string]any)
	assert.Equal(t, "current_time", response["name"])
}

// TestResponsesToolRound: the chat with -provider openai-responses calls current_time
// through the SDK against a test server of the Responses API, statelessly: the reasoning
// item goes back with its encrypted content, and every request carries the session's
// prompt cache key.
func TestResponsesToolRound(t *testing.T) {
	event := func(data string) string {
		var head struct{ Type string }
		json.Unmarshal([]byte(data), &head)
		return "event: " + head.Type + "\ndata: " + data
	}
	completed := func(output, usage string) string {
		return event(`{"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"m","output":` + output + `,"usage":` + usage + `}}`)
	}
	reasoning := `{"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"gAAAA-ENCRYPTED"}`
	server := newSSEServer(t, "/v1/responses", []string{
		event(`{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1,"status":"in_progress","model":"m","output":[]}}`),
		completed(`[`+reasoning+`,{"id":"fc_1","type":"function_call","call_id":"call_5","name":"current_time","arguments":"{}","status":"completed"}]`,
			`{"input_tokens":40,"input_tokens_details":{"cached_tokens":0},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":8},"total_tokens":52}`),
	}, []string{
		event(`{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"It is noon.","logprobs":[]}`),
		completed(`[{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"It is noon.","annotations":[]}]}]`,
			`{"input_tokens":70,"input_tokens_details":{"cached_tokens":32},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":74}`),
	})
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\n", "-provider", "openai-responses", "-base-url", server.URL+"/v1", "-model", "gpt-test")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "[tool current_time: 2026-11-25T12:00:00+01:00]")
	assert.Contains(t, r.stdout, "It is noon.")
	s := load(t, filepath.Join(dir, "chat-session.json"))
	total := s.TokenUsage()
	assert.Equal(t, [4]int{110, 16, 32, 8}, [4]int{total.InputTokens, total.OutputTokens, total.CacheReadTokens, total.ReasoningTokens})

	requests := server.recorded()
	require.Len(t, requests, 2)
	for _, req := range requests {
		assert.Equal(t, false, req["store"])
		assert.Equal(t, s.ID(), req["prompt_cache_key"])
		assert.NotContains(t, req, "previous_response_id")
	}
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(reasoning), &want))
	assert.Contains(t, requests[1]["input"], any(want), "the reasoning item, with its encrypted content")
}

// TestPromptCacheKeyIsStable: every Chat Completions request of a session carries its
// ID as prompt_cache_key.
func TestPromptCacheKeyIsStable(t *testing.T) {
	server := newModelServer(t, textReply(usageChunk(10, 0, 2, 0), "One."), textReply(usageChunk(20, 10, 2, 0), "Two."))
	dir := t.TempDir()
	r := chatIn(t, dir, "a\nb\n", "-base-url", server.baseURL(), "-model", "test-model")
	require.Equal(t, 0, r.code, r.stderr)
	s := load(t, filepath.Join(dir, "chat-session.json"))
	requests := server.recorded()
	require.Len(t, requests, 2)
	for _, req := range requests {
		assert.Equal(t, s.ID(), req["prompt_cache_key"])
	}
}

// TestProviderErrorsWhateverTheBody: an error answer reaches the user with its status
// and message, whatever its body holds, for every provider; nothing is saved.
func TestProviderErrorsWhateverTheBody(t *testing.T) {
	for _, tt := range []struct{ provider, path, body, want string }{
		{"openai", "/v1/chat/completions", `{"error":"upstream exploded"}`, "HTTP 500: upstream exploded"},
		{"openai-responses", "/v1/responses", `{"error":{"message":"bad things"}}`, "HTTP 500: bad things"},
		{"anthropic", "/v1/messages", `<html>Bad Gateway</html>`, "HTTP 500: <html>Bad Gateway</html>"},
		{"gemini", "/v1beta/models/m:streamGenerateContent", `{"error":{"code":500,"message":"internal","status":"INTERNAL"}}`, "HTTP 500: internal"},
	} {
		t.Run(tt.provider, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, tt.body)
			}))
			defer server.Close()
			base := server.URL
			if strings.HasPrefix(tt.path, "/v1/") && tt.provider != "anthropic" {
				base += "/v1"
			}
			dir := t.TempDir()
			r := chatIn(t, dir, "hi\n", "-provider", tt.provider, "-base-url", base, "-model", "m")
			assert.Equal(t, 1, r.code)
			assert.Contains(t, r.stderr, "the model's server failed ("+tt.want)
			assert.Contains(t, r.stdout, "nothing was saved")
		})
	}
}

// TestFailedTurnKeepsItsUsage: a turn whose tool round was answered and whose next
// request failed saves none of its messages, but counts the tokens it paid for.
func TestFailedTurnKeepsItsUsage(t *testing.T) {
	server := newModelServer(t, toolReply("call_1"), reply{status: 500})
	dir := t.TempDir()
	r := chatIn(t, dir, "What time is it?\n", "-base-url", server.baseURL(), "-model", "test-model")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "HTTP 500")
	assert.Contains(t, r.stdout, "the tokens it used were paid for and are counted in this session (40 in, 9 out)")
	s := load(t, filepath.Join(dir, "chat-session.json"))
	assert.Equal(t, 0, s.Len(), "none of the turn's messages")
	u := s.TokenUsage()
	assert.Equal(t, [2]int{40, 9}, [2]int{u.InputTokens, u.OutputTokens})
}
