package session_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exllm-go/session"
)

// The quick start of ExLLM.Session, in Go.
func Example() {
	// Create a new session
	s := session.New("anthropic")

	// Add messages
	s = s.AddMessage("user", "Hello!")
	s = s.AddMessage("assistant", "Hi there!")

	// Get messages
	for _, m := range s.GetMessages(0) {
		fmt.Printf("%s: %s\n", m.Role, m.Content)
	}

	// Update token usage
	s = s.UpdateTokenUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 15})
	fmt.Println("tokens:", s.TotalTokens())
	// Output:
	// user: Hello!
	// assistant: Hi there!
	// tokens: 25
}

func ExampleNew() {
	s := session.New("openai", session.WithName("My Chat"))
	fmt.Println(s.Backend(), "/", s.Name(), "/", s.Len(), "messages")
	fmt.Println(s.CreatedAt().Equal(s.UpdatedAt()))
	// Output:
	// openai / My Chat / 0 messages
	// true
}

func ExampleSession_AddMessage() {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s := session.New("openai").
		AddMessage("user", "Weather in Oslo?", session.WithTimestamp(at)).
		AddMessage("assistant", "", session.WithExtra("tool_calls", []any{
			map[string]any{"id": "call_9", "type": "function",
				"function": map[string]any{"name": "weather", "arguments": `{"city":"Oslo"}`}},
		})).
		AddMessage("tool", `{"temp_c": -3}`, session.WithExtra("tool_call_id", "call_9"))

	for _, m := range s.GetMessages(0) {
		fmt.Printf("%-9s %-16q %v\n", m.Role, m.Content, m.Extra)
	}
	fmt.Println(s.GetMessages(0)[0].Timestamp)
	// Output:
	// user      "Weather in Oslo?" map[]
	// assistant ""               map[tool_calls:[map[function:map[arguments:{"city":"Oslo"} name:weather] id:call_9 type:function]]]
	// tool      "{\"temp_c\": -3}" map[tool_call_id:call_9]
	// 2025-03-04 05:06:07 +0000 UTC
}

// Sessions are values: adding to an older one starts a branch that neither sees nor
// changes the others.
func ExampleSession_AddMessage_branches() {
	base := session.New("openai").AddMessage("user", "Tell me a story.")
	happy := base.AddMessage("assistant", "Once upon a time, all was well.")
	sad := base.AddMessage("assistant", "It was a dark and stormy night.")

	fmt.Println(base.Len(), happy.GetMessages(1)[0].Content)
	fmt.Println(base.Len(), sad.GetMessages(1)[0].Content)
	// Output:
	// 1 Once upon a time, all was well.
	// 1 It was a dark and stormy night.
}

func ExampleSession_GetMessages() {
	s := session.New("")
	for _, text := range []string{"one", "two", "three", "four"} {
		s = s.AddMessage("user", text)
	}
	for _, m := range s.GetMessages(2) { // the last two, oldest first
		fmt.Println(m.Content)
	}
	fmt.Println(len(s.GetMessages(0)))
	// Output:
	// three
	// four
	// 4
}

func ExampleSession_Messages() {
	s := session.New("").AddMessage("user", "Hello!").AddMessage("assistant", "Hi there!")
	for m := range s.Messages() {
		fmt.Println(m.Role)
	}
	// Output:
	// user
	// assistant
}

func ExampleSession_ClearMessages() {
	s := session.New("openai", session.WithName("chat")).
		AddMessage("user", "Hello!").
		UpdateTokenUsage(session.TokenUsage{InputTokens: 3, OutputTokens: 4})
	s = s.ClearMessages()
	fmt.Println(s.Len(), s.Name(), s.TotalTokens())
	// Output: 0 chat 7
}

func ExampleSession_SetContext() {
	s := session.New("openai").SetContext(map[string]any{"temperature": 0.7, "max_tokens": 1000})
	fmt.Println(s.Context())
	// Output: map[max_tokens:1000 temperature:0.7]
}

func ExampleSession_SetName() {
	s := session.New("openai").SetName("My Important Chat")
	fmt.Println(s.Name())
	// Output: My Important Chat
}

func ExampleSession_UpdateTokenUsage() {
	s := session.New("openai").
		UpdateTokenUsage(session.TokenUsage{InputTokens: 100, OutputTokens: 150}).
		UpdateTokenUsage(session.TokenUsage{InputTokens: 20, OutputTokens: 30})
	fmt.Printf("%+v total=%d\n", s.TokenUsage(), s.TotalTokens())
	// Output: {InputTokens:120 OutputTokens:180 CacheReadTokens:0 CacheWriteTokens:0 ReasoningTokens:0} total=300
}

func ExampleFromJSON() {
	data := []byte(`{"context":{},"created_at":"2026-11-24T14:23:55.854406Z","id":"c017f8f90719135e000341031ca258d0",
		"llm_backend":"anthropic","messages":[{"content":"Hello!","role":"user","timestamp":"2026-11-24T14:23:55.857017Z"}],
		"name":"Test Chat","token_usage":{"input_tokens":10,"output_tokens":15},"updated_at":"2026-11-24T14:23:55.857031Z"}`)
	s, err := session.FromJSON(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Name(), s.Len(), s.TotalTokens())

	out, err := s.ToJSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))

	_, err = session.FromJSON([]byte(`{"id":"x","created_at":"2026-11-24T14:23:55Z","updated_at":"yesterday"}`))
	fmt.Println(err)
	// Output:
	// Test Chat 1 25
	// {"context":{},"created_at":"2026-11-24T14:23:55.854406Z","id":"c017f8f90719135e000341031ca258d0","llm_backend":"anthropic","messages":[{"content":"Hello!","role":"user","timestamp":"2026-11-24T14:23:55.857017Z"}],"name":"Test Chat","token_usage":{"input_tokens":10,"output_tokens":15},"updated_at":"2026-11-24T14:23:55.857031Z"}
	// session: updated_at: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"
}

func ExampleSession_SaveToFile() {
	dir, err := os.MkdirTemp("", "session-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "my_session.json")

	s := session.New("anthropic").AddMessage("user", "Hello!")
	if err := s.SaveToFile(path); err != nil {
		fmt.Println(err)
		return
	}
	loaded, err := session.LoadFromFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(loaded.Equal(s), loaded.GetMessages(0)[0].Content)
	// Output: true Hello!
}

// A chat app sends the model only what its context window holds: before each request
// it takes a window of the history, keeping the system prompt.
func ExampleSession_Window() {
	s := session.New("openai").AddMessage("system", "You are a terse assistant.")
	for i := range 100 {
		s = s.AddMessage("user", fmt.Sprintf("Question %d: what is %d squared?", i, i))
		s = s.AddMessage("assistant", fmt.Sprint(i*i))
	}
	s = s.AddMessage("user", "And 100 squared?")

	const contextWindow = 60 // tokens the model accepts, less room for its answer
	request := s.Window(contextWindow, session.EstimateTokens, session.KeepSystem())

	for _, m := range request {
		fmt.Printf("%s: %s\n", m.Role, m.Content)
	}
	fmt.Printf("%d of %d messages\n", len(request), s.Len())
	// Output:
	// system: You are a terse assistant.
	// assistant: 9604
	// user: Question 99: what is 99 squared?
	// assistant: 9801
	// user: And 100 squared?
	// 5 of 202 messages
}

// Multimodal messages (OpenAI's content parts, Anthropic's content blocks) keep their
// parts; Content holds their text, for code that reads text only.
func ExampleWithParts() {
	s := session.New("openai").AddMessage("user", "", session.WithParts(
		map[string]any{"type": "text", "text": "What is in this picture?"},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://example.com/cat.png"}},
	))
	m := s.GetMessages(1)[0]
	fmt.Println(m.Content)
	fmt.Println(len(m.Parts), m.Parts[1]["type"])
	data, _ := m.MarshalJSON()
	fmt.Println(string(data[:strings.Index(string(data), `,"role"`)]))
	// Output:
	// What is in this picture?
	// 2 image_url
	// {"content":[{"text":"What is in this picture?","type":"text"},{"image_url":{"url":"https://example.com/cat.png"},"type":"image_url"}]
}

// A value of your own type given to WithExtra is stored as the JSON it encodes to,
// exactly what loading the session from a file gives: Window and a reload see the same.
func ExampleWithExtra() {
	type function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	type toolCall struct {
		ID       string   `json:"id"`
		Type     string   `json:"type"`
		Function function `json:"function"`
	}
	calls := []toolCall{{ID: "call_1", Type: "function", Function: function{Name: "current_time", Arguments: "{}"}}}
	s := session.New("openai").AddMessage("assistant", "", session.WithExtra("tool_calls", calls))

	stored := s.GetMessages(1)[0].Extra["tool_calls"].([]any)
	fmt.Printf("%T %v\n", stored[0], stored[0].(map[string]any)["id"])

	_, err := s.AddMessage("user", "x", session.WithExtra("bad", make(chan int))).ToJSON()
	fmt.Println(err)
	// Output:
	// map[string]interface {} call_1
	// session: messages[1].bad: json: unsupported type: chan int
}

// An OpenAI Chat Completions usage maps onto TokenUsage as it is: its prompt_tokens
// already count the cached ones.
func ExampleWithUsage_openAI() {
	var resp struct {
		Usage struct {
			PromptTokens        int `json:"prompt_tokens"`
			CompletionTokens    int `json:"completion_tokens"`
			PromptTokensDetails struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
			CompletionTokensDetails struct {
				ReasoningTokens int `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	_ = json.Unmarshal([]byte(`{"usage":{"prompt_tokens":2000,"completion_tokens":300,
		"prompt_tokens_details":{"cached_tokens":1500},"completion_tokens_details":{"reasoning_tokens":200}}}`), &resp)

	u := session.TokenUsage{
		InputTokens:     resp.Usage.PromptTokens,
		OutputTokens:    resp.Usage.CompletionTokens,
		CacheReadTokens: resp.Usage.PromptTokensDetails.CachedTokens,
		ReasoningTokens: resp.Usage.CompletionTokensDetails.ReasoningTokens,
	}
	s := session.New("openai").AddMessage("assistant", "It is noon.", session.WithUsage(u))

	// Example prices per million tokens, not any model's.
	price := session.Price{Input: 2.50, CacheRead: 1.25, Output: 10}
	fmt.Printf("%+v\n", s.GetMessages(1)[0].Usage())
	fmt.Println(s.TotalTokens(), s.TokenUsage().Cost(price))
	// Output:
	// {InputTokens:2000 OutputTokens:300 CacheReadTokens:1500 CacheWriteTokens:0 ReasoningTokens:200}
	// 2300 0.006125
}

// Anthropic's input_tokens leave out the cached tokens, which it reports apart: add them
// in, so that InputTokens counts all input as TokenUsage means it.
func ExampleWithUsage_anthropic() {
	var resp struct {
		Usage struct {
			InputTokens              int `json:"input_tokens"`
			OutputTokens             int `json:"output_tokens"`
			CacheReadInputTokens     int `json:"cache_read_input_tokens"`
			CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal([]byte(`{"usage":{"input_tokens":500,"output_tokens":300,
		"cache_read_input_tokens":1500,"cache_creation_input_tokens":0}}`), &resp)

	r := resp.Usage
	u := session.TokenUsage{
		InputTokens:      r.InputTokens + r.CacheReadInputTokens + r.CacheCreationInputTokens,
		OutputTokens:     r.OutputTokens,
		CacheReadTokens:  r.CacheReadInputTokens,
		CacheWriteTokens: r.CacheCreationInputTokens,
	}
	s := session.New("anthropic").AddMessage("assistant", "It is noon.", session.WithUsage(u))

	// Example prices per million tokens, not any model's.
	price := session.Price{Input: 3, CacheRead: 0.30, CacheWrite: 3.75, Output: 15}
	fmt.Println(s.TokenUsage().InputTokens, s.TotalTokens(), s.TokenUsage().Cost(price))
	// Output: 2000 2300 0.00645
}

// To answer the last question again, go back to the session before the answer: the
// answer's usage stays counted.
func ExampleSession_Truncate() {
	s := session.New("openai").
		AddMessage("user", "Name a color.").
		AddMessage("assistant", "Blue.", session.WithUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 2}))

	retry := s.Truncate(s.Len()-1).
		AddMessage("assistant", "Green.", session.WithUsage(session.TokenUsage{InputTokens: 10, OutputTokens: 2}))
	fmt.Println(s.GetMessages(1)[0].Content, retry.GetMessages(1)[0].Content, retry.Len(), retry.TotalTokens())
	// Output: Blue. Green. 2 24
}

// A struct that embeds a Session takes on its MarshalJSON, which encodes the session
// alone, as a struct that embeds a time.Time encodes as the time: the struct's own fields
// are lost. Hold the session in a named field.
func ExampleSession_embedding() {
	type embedded struct {
		session.Session
		Owner string `json:"owner"`
	}
	type named struct {
		Session session.Session `json:"session"`
		Owner   string          `json:"owner"`
	}
	s := session.New("openai")

	data, _ := json.Marshal(embedded{Session: s, Owner: "ann"})
	fmt.Println(strings.Contains(string(data), "ann"))
	data, _ = json.Marshal(named{Session: s, Owner: "ann"})
	fmt.Println(strings.Contains(string(data), "ann"))

	var back named
	_ = json.Unmarshal(data, &back)
	fmt.Println(back.Owner, back.Session.Equal(s))
	// Output:
	// false
	// true
	// ann true
}

// A partial session holds the end of a long conversation: it adds, windows and digests as
// the whole session does, and refuses to be written whole.
func ExampleSession_Recent() {
	s := session.New("openai")
	for i := range 1000 {
		s = s.AddMessage("user", fmt.Sprint("message ", i))
	}
	recent := s.Recent(2).AddMessage("assistant", "an answer")
	whole := s.AddMessage("assistant", "another answer")

	fmt.Println(recent.Len(), recent.FirstIndex(), len(recent.GetMessages(0)))
	fmt.Println(recent.MessageAt(999).Content)
	fmt.Println(recent.CommonPrefixLen(whole))
	_, err := recent.ToJSON()
	fmt.Println(errors.Is(err, session.ErrPartial))
	// Output:
	// 1001 998 3
	// message 999
	// 1000
	// true
}
