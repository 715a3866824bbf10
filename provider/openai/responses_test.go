package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session"
	sessionopenai "github.com/exllm-go/session/provider/openai"
)

// responsesServer is a test server, not a model: it speaks the Responses API's
// streaming protocol (server-sent events from response.created to response.completed,
// which holds the whole response), answering each request with the next of outputs,
// and records the requests' bodies.
type responsesServer struct {
	outputs []string // each the JSON of a response's output items
	usages  []string
	bodies  []map[string]any
}

func (rs *responsesServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil || r.URL.Path != "/v1/responses" {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	rs.bodies = append(rs.bodies, body)
	output, usage := rs.outputs[0], rs.usages[0]
	rs.outputs, rs.usages = rs.outputs[1:], rs.usages[1:]
	w.Header().Set("Content-Type", "text/event-stream")
	events := []string{
		`{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1,"status":"in_progress","model":"m","output":[]}}`,
		`{"type":"response.completed","sequence_number":1,"response":{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"m","output":` + output + `,"usage":` + usage + `}}`,
	}
	for _, e := range events {
		var head struct{ Type string }
		json.Unmarshal([]byte(e), &head)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", head.Type, e)
	}
}

// TestResponsesToolRound drives a tool round with reasoning through the SDK's
// streaming Responses client: the reasoning item goes back in the next request with its
// encrypted content, the call and its output pair by call_id, every request is stateless
// (store false, encrypted reasoning asked for, no previous_response_id) and carries the
// prompt cache key, and usage is mapped and totalled.
func TestResponsesToolRound(t *testing.T) {
	reasoning := `{"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"gAAAAABo-ENCRYPTED"}`
	call := `{"id":"fc_1","type":"function_call","call_id":"call_9","name":"current_time","arguments":"{\"tz\":\"UTC\"}","status":"completed"}`
	srv := &responsesServer{
		outputs: []string{`[` + reasoning + `,` + call + `]`,
			`[{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"It is noon.","annotations":[]}]}]`},
		usages: []string{`{"input_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":16},"total_tokens":70}`,
			`{"input_tokens":90,"input_tokens_details":{"cached_tokens":64},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":95}`},
	}
	server := httptest.NewServer(srv)
	defer server.Close()
	client := openai.NewClient(option.WithBaseURL(server.URL+"/v1"), option.WithAPIKey("test"))

	s := session.New("openai").AddMessage("system", "Be brief.").AddMessage("user", "What time is it?")
	ask := func() {
		params := responses.ResponseNewParams{
			Model:          "m",
			Input:          responses.ResponseNewParamsInputUnion{OfInputItemList: sessionopenai.Input(s.Window(100000, nil, session.KeepSystem()))},
			PromptCacheKey: openai.String(sessionopenai.PromptCacheKey(s)),
		}
		sessionopenai.Stateless(&params)
		stream := client.Responses.NewStreaming(context.Background(), params)
		var done *responses.Response
		for stream.Next() {
			if e := stream.Current(); e.Type == "response.completed" {
				r := e.Response
				done = &r
			}
		}
		require.NoError(t, stream.Err())
		require.NotNil(t, done)
		s = sessionopenai.AppendResponse(s, *done)
	}
	ask()
	m, _ := s.LastMessage()
	require.Equal(t, []any{map[string]any{"id": "call_9", "type": "function",
		"function": map[string]any{"name": "current_time", "arguments": `{"tz":"UTC"}`}}}, m.Extra["tool_calls"])
	s = s.AddMessage("tool", "12:00", session.WithExtra("tool_call_id", "call_9"))
	ask()
	answer, _ := s.LastMessage()
	assert.Equal(t, "It is noon.", answer.Content)
	assert.Equal(t, session.TokenUsage{InputTokens: 140, OutputTokens: 25, CacheReadTokens: 64, ReasoningTokens: 16}, s.TokenUsage())

	require.Len(t, srv.bodies, 2)
	for _, body := range srv.bodies {
		assert.Equal(t, false, body["store"])
		assert.Equal(t, []any{"reasoning.encrypted_content"}, body["include"])
		assert.NotContains(t, body, "previous_response_id")
		assert.Equal(t, s.ID(), body["prompt_cache_key"])
	}
	var wantReasoning, wantCall map[string]any
	require.NoError(t, json.Unmarshal([]byte(reasoning), &wantReasoning))
	require.NoError(t, json.Unmarshal([]byte(call), &wantCall))
	input := srv.bodies[1]["input"].([]any)
	require.Len(t, input, 5)
	assert.Equal(t, map[string]any{"type": "message", "role": "system", "content": []any{map[string]any{"type": "input_text", "text": "Be brief."}}}, input[0])
	assert.Equal(t, wantReasoning, input[2], "the reasoning item, with its encrypted content, unchanged")
	assert.Equal(t, wantCall, input[3])
	assert.Equal(t, map[string]any{"type": "function_call_output", "call_id": "call_9", "output": "12:00"}, input[4])

	// The same session, sent to Chat Completions, speaks that API's shapes.
	var chat []map[string]any
	data, err := json.Marshal(sessionopenai.Messages(s.GetMessages(0)))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &chat))
	assert.Equal(t, map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_9", "type": "function",
		"function": map[string]any{"name": "current_time", "arguments": `{"tz":"UTC"}`}}}}, chat[2])
}
