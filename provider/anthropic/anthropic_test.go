package anthropic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	sessionanthropic "github.com/exllm-go/session/provider/anthropic"
)

// wire returns the request body the SDK writes for the request of window.
func wire(t *testing.T, window []session.Message, stable int) map[string]any {
	t.Helper()
	system, messages := sessionanthropic.Request(window, stable)
	data, err := json.Marshal(anthropic.MessageNewParams{Model: "m", MaxTokens: 10, System: system, Messages: messages})
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

// markers counts the cache_control markers of a request body.
func markers(body map[string]any) int {
	data, _ := json.Marshal(body)
	return strings.Count(string(data), `"cache_control"`)
}

func TestRequest(t *testing.T) {
	calls := []any{
		map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "a", "arguments": `{"x":1}`}},
		map[string]any{"id": "call_2", "type": "function", "function": map[string]any{"name": "b", "arguments": ""}},
	}
	s := session.New("anthropic").
		AddMessage("system", "Be brief.").
		AddMessage("user", "Look:", session.WithParts(
			map[string]any{"type": "text", "text": "Look:"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,AAAA"}})).
		AddMessage("assistant", "Calling.", session.WithExtra("tool_calls", calls)).
		AddMessage("tool", "one", session.WithExtra("tool_call_id", "call_1")).
		AddMessage("tool", "two", session.WithExtra("tool_call_id", "call_2")).
		AddMessage("system", "Mind the time.").
		AddMessage("assistant", "Done.")
	body := wire(t, s.GetMessages(0), 3)
	assert.Equal(t, []any{map[string]any{"type": "text", "text": "Be brief.", "cache_control": map[string]any{"type": "ephemeral"}}}, body["system"])
	msgs := body["messages"].([]any)
	require.Len(t, msgs, 4, "user, assistant, user (both results and the late instruction), assistant")
	roles := []string{}
	for _, m := range msgs {
		roles = append(roles, m.(map[string]any)["role"].(string))
	}
	assert.Equal(t, []string{"user", "assistant", "user", "assistant"}, roles)
	assert.Equal(t, []any{
		map[string]any{"type": "text", "text": "Look:"},
		map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": "AAAA"}},
	}, msgs[0].(map[string]any)["content"])
	assert.Equal(t, []any{
		map[string]any{"type": "text", "text": "Calling."},
		map[string]any{"type": "tool_use", "id": "call_1", "name": "a", "input": map[string]any{"x": 1.0}},
		map[string]any{"type": "tool_use", "id": "call_2", "name": "b", "input": map[string]any{}, "cache_control": map[string]any{"type": "ephemeral"}},
	}, msgs[1].(map[string]any)["content"], "the stable prefix ends with the third message")
	assert.Equal(t, []any{
		map[string]any{"type": "tool_result", "tool_use_id": "call_1", "content": "one"},
		map[string]any{"type": "tool_result", "tool_use_id": "call_2", "content": "two"},
		map[string]any{"type": "text", "text": "Mind the time."},
	}, msgs[2].(map[string]any)["content"])
	assert.Equal(t, []any{map[string]any{"type": "text", "text": "Done.", "cache_control": map[string]any{"type": "ephemeral"}}},
		msgs[3].(map[string]any)["content"], "the last message is marked")
	assert.Equal(t, 3, markers(body))
}

func TestUsage(t *testing.T) {
	var u anthropic.Usage
	require.NoError(t, json.Unmarshal([]byte(`{"input_tokens":10,"cache_read_input_tokens":1000,"cache_creation_input_tokens":200,"output_tokens":50}`), &u))
	assert.Equal(t, session.TokenUsage{InputTokens: 1210, OutputTokens: 50, CacheReadTokens: 1000, CacheWriteTokens: 200}, sessionanthropic.Usage(u))
}

// messagesServer is a test server, not a model: it speaks the Messages API's streaming
// protocol (server-sent events from message_start to message_stop), answering each
// request with the next of answers, and records the requests' bodies.
type messagesServer struct {
	answers [][][2]string // each a list of events: name, data
	bodies  []map[string]any
}

func (m *messagesServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil || r.URL.Path != "/v1/messages" {
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`, http.StatusBadRequest)
		return
	}
	m.bodies = append(m.bodies, body)
	answer := m.answers[0]
	m.answers = m.answers[1:]
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range answer {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e[0], e[1])
	}
}

// TestToolRoundWithThinking drives a tool round with thinking through the SDK's
// streaming client and its accumulator: the thinking block comes back in the next
// request with its signature unchanged, the tool_use and its tool_result pair up, the
// cache markers are 1 to 4 with the last message marked, and usage counts the cache.
func TestToolRoundWithThinking(t *testing.T) {
	start := func(in, read, write int) [2]string {
		return [2]string{"message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":%d,"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d,"output_tokens":1}}}`, in, read, write)}
	}
	srv := &messagesServer{answers: [][][2]string{{
		start(12, 0, 800),
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants "}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the time."}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds=="}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"current_time","input":{}}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"tz\": "}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"UTC\"}"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":1}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}, {
		start(30, 800, 0),
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It is noon."}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}`},
		{"message_stop", `{"type":"message_stop"}`},
	}}}
	server := httptest.NewServer(srv)
	defer server.Close()
	client := anthropic.NewClient(option.WithBaseURL(server.URL), option.WithAPIKey("test"))

	s := session.New("anthropic").AddMessage("system", "Be brief.").AddMessage("user", "What time is it?")
	ask := func() {
		system, messages := sessionanthropic.Request(s.Window(100000, nil, session.KeepSystem()), 0)
		stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
			Model: "m", MaxTokens: 1024, System: system, Messages: messages})
		var msg anthropic.Message
		for stream.Next() {
			require.NoError(t, msg.Accumulate(stream.Current()))
		}
		require.NoError(t, stream.Err())
		s = sessionanthropic.AppendMessage(s, msg)
	}
	ask()
	call, _ := s.LastMessage()
	require.Len(t, call.Parts, 2)
	assert.Equal(t, "tool_use", call.Extra["stop_reason"])
	assert.Equal(t, session.TokenUsage{InputTokens: 812, OutputTokens: 40, CacheWriteTokens: 800}, call.Usage())
	s = sessionanthropic.ToolResult(s, call.Parts[1]["id"].(string), "12:00")
	ask()
	answer, _ := s.LastMessage()
	assert.Equal(t, "It is noon.", answer.Content)
	assert.Equal(t, session.TokenUsage{InputTokens: 812 + 830, OutputTokens: 46, CacheReadTokens: 800, CacheWriteTokens: 800}, s.TokenUsage())

	require.Len(t, srv.bodies, 2)
	sent := srv.bodies[1]["messages"].([]any)
	require.Len(t, sent, 3)
	blocks := sent[1].(map[string]any)["content"].([]any)
	assert.Equal(t, map[string]any{"type": "thinking", "thinking": "The user wants the time.",
		"signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds=="}, blocks[0], "the thinking block, unchanged")
	assert.Equal(t, map[string]any{"type": "tool_use", "id": "toolu_01", "name": "current_time", "input": map[string]any{"tz": "UTC"}}, blocks[1])
	result := sent[2].(map[string]any)["content"].([]any)
	assert.Equal(t, "tool_result", result[0].(map[string]any)["type"])
	assert.Equal(t, "toolu_01", result[0].(map[string]any)["tool_use_id"])
	for i, body := range srv.bodies {
		n := markers(body)
		assert.True(t, n >= 1 && n <= sessionanthropic.MaxCacheMarkers, "request %d: %d markers", i, n)
		msgs := body["messages"].([]any)
		last := msgs[len(msgs)-1].(map[string]any)["content"].([]any)
		assert.Contains(t, last[len(last)-1], "cache_control", "request %d: the last message is marked", i)
	}

	// Read back from its file, the session sends the same request again.
	data, err := s.ToJSON()
	require.NoError(t, err)
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	assert.Equal(t, wire(t, s.GetMessages(0), 2), wire(t, back.GetMessages(0), 2))
}
