package gemini_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/exllm-go/session"
	sessiongemini "github.com/exllm-go/session/provider/gemini"
)

func TestContents(t *testing.T) {
	calls := []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "current_time", "arguments": `{"tz":"UTC"}`}}}
	s := session.New("gemini").
		AddMessage("system", "Be brief.").
		AddMessage("user", "What time is it?").
		AddMessage("assistant", "", session.WithExtra("tool_calls", calls)).
		AddMessage("tool", "12:00", session.WithExtra("tool_call_id", "call_1")).
		AddMessage("system", "Mind the time.").
		AddMessage("assistant", "Noon.")
	system, contents := sessiongemini.Contents(s.GetMessages(0))
	require.NotNil(t, system)
	assert.Equal(t, "Be brief.", system.Parts[0].Text)
	data, err := json.Marshal(contents)
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"role":"user","parts":[{"text":"What time is it?"}]},
		{"role":"model","parts":[{"functionCall":{"id":"call_1","name":"current_time","args":{"tz":"UTC"}}}]},
		{"role":"user","parts":[{"functionResponse":{"id":"call_1","name":"current_time","response":{"result":"12:00"}}},{"text":"Mind the time."}]},
		{"role":"model","parts":[{"text":"Noon."}]}]`, string(data))
}

func TestUsage(t *testing.T) {
	u := &genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 100, CachedContentTokenCount: 60, CandidatesTokenCount: 20, ThoughtsTokenCount: 30}
	assert.Equal(t, session.TokenUsage{InputTokens: 100, OutputTokens: 50, CacheReadTokens: 60, ReasoningTokens: 30}, sessiongemini.Usage(u))
	assert.Zero(t, sessiongemini.Usage(nil))
}

// geminiServer is a test server, not a model: it speaks streamGenerateContent with
// alt=sse (server-sent events of GenerateContentResponse, each with the running usage),
// answering each request with the next of answers, and records the requests' bodies.
type geminiServer struct {
	answers [][]string
	bodies  []map[string]any
}

func (g *geminiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil || !strings.HasSuffix(r.URL.Path, "/models/m:streamGenerateContent") {
		http.Error(w, `{"error":{"code":400,"message":"bad request","status":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
		return
	}
	g.bodies = append(g.bodies, body)
	answer := g.answers[0]
	g.answers = g.answers[1:]
	w.Header().Set("Content-Type", "text/event-stream")
	for _, line := range answer {
		fmt.Fprintf(w, "data: %s\r\n\r\n", line)
	}
}

// TestFunctionCallWithThoughts drives a function call with thoughts through the SDK's
// streaming client: the thoughtSignature comes back in the next request on the part
// that carried it, the functionResponse is named after the call, and usage is the last
// chunk's, not the sum of the chunks'.
func TestFunctionCallWithThoughts(t *testing.T) {
	usage := func(prompt, cached, candidates, thoughts int) string {
		return fmt.Sprintf(`"usageMetadata":{"promptTokenCount":%d,"cachedContentTokenCount":%d,"candidatesTokenCount":%d,"thoughtsTokenCount":%d}`, prompt, cached, candidates, thoughts)
	}
	srv := &geminiServer{answers: [][]string{{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Looking up ","thought":true}]}}],` + usage(40, 0, 0, 5) + `}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"the time.","thought":true}]}}],` + usage(40, 0, 0, 12) + `}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"current_time","args":{"tz":"UTC"}},"thoughtSignature":"c2lnbmF0dXJl"}]},"finishReason":"STOP"}],` + usage(40, 0, 7, 12) + `}`,
	}, {
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]}}],` + usage(70, 32, 2, 0) + `}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"noon."}]},"finishReason":"STOP"}],` + usage(70, 32, 4, 0) + `}`,
	}}}
	server := httptest.NewServer(srv)
	defer server.Close()
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "test", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: server.URL}})
	require.NoError(t, err)

	s := session.New("gemini").AddMessage("system", "Be brief.").AddMessage("user", "What time is it?")
	var acc sessiongemini.Accumulator
	ask := func() {
		system, contents := sessiongemini.Contents(s.Window(100000, nil, session.KeepSystem()))
		acc = sessiongemini.Accumulator{}
		for chunk, err := range client.Models.GenerateContentStream(context.Background(), "m", contents, &genai.GenerateContentConfig{SystemInstruction: system}) {
			require.NoError(t, err)
			acc.Add(chunk)
		}
		s = acc.AppendTo(s)
	}
	ask()
	calls := acc.Calls()
	require.Len(t, calls, 1)
	call, _ := s.LastMessage()
	assert.Equal(t, []map[string]any{
		{"text": "Looking up the time.", "thought": true},
		{"functionCall": map[string]any{"name": "current_time", "args": map[string]any{"tz": "UTC"}}, "thoughtSignature": "c2lnbmF0dXJl"},
	}, call.Parts, "thoughts joined, the signature on its part")
	assert.Equal(t, "", call.Content, "no text but thoughts")
	assert.Equal(t, session.TokenUsage{InputTokens: 40, OutputTokens: 19, ReasoningTokens: 12}, call.Usage(), "the last chunk's usage")
	s = sessiongemini.ToolResult(s, calls[0], "12:00")
	ask()
	answer, _ := s.LastMessage()
	assert.Equal(t, "It is noon.", answer.Content)
	assert.Nil(t, answer.Parts, "text alone is the message's content")
	assert.Equal(t, session.TokenUsage{InputTokens: 110, OutputTokens: 23, CacheReadTokens: 32, ReasoningTokens: 12}, s.TokenUsage())

	require.Len(t, srv.bodies, 2)
	assert.Equal(t, map[string]any{"parts": []any{map[string]any{"text": "Be brief."}}, "role": "user"}, srv.bodies[1]["systemInstruction"])
	sent := srv.bodies[1]["contents"].([]any)
	require.Len(t, sent, 3)
	assert.Equal(t, map[string]any{"role": "model", "parts": []any{
		map[string]any{"text": "Looking up the time.", "thought": true},
		map[string]any{"functionCall": map[string]any{"name": "current_time", "args": map[string]any{"tz": "UTC"}}, "thoughtSignature": "c2lnbmF0dXJl"},
	}}, sent[1], "the answer sent back unchanged, the signature on its part")
	assert.Equal(t, map[string]any{"role": "user", "parts": []any{
		map[string]any{"functionResponse": map[string]any{"name": "current_time", "response": map[string]any{"result": "12:00"}}},
	}}, sent[2])

	// Read back from its file, the session sends the same request again.
	data, err := s.ToJSON()
	require.NoError(t, err)
	back, err := session.FromJSON(data)
	require.NoError(t, err)
	_, c1 := sessiongemini.Contents(s.GetMessages(0))
	_, c2 := sessiongemini.Contents(back.GetMessages(0))
	j1, _ := json.Marshal(c1)
	j2, _ := json.Marshal(c2)
	assert.JSONEq(t, string(j1), string(j2))
}
