package session_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
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
	// Output: {InputTokens:120 OutputTokens:180} total=300
}

func ExampleFromJSON() {
	data := []byte(`{"context":{},"created_at":"2026-11-24T14:23:55.854406Z","id":"c017f8f90719135e000341031ca258d0",
		"llm_backend":"anthropic","messages":[{"content":"Hello!","role":"user","timestamp":"2026-11-24T14:23:55.857017Z"}],
		"name":"Test Chat","token_usage":{"input_tokens":10,"output_tokens":15},"updated_at":"2026-11-24T14:23:55.857031Z"}`)
	s, err := session.FromJSON(data)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Name(), s.Len(), s.TotalTokens())

	out, err := s.ToJSON()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))

	_, err = session.FromJSON([]byte(`{"id":"x","created_at":"2026-11-24T14:23:55Z","updated_at":"2026-11-24T14:23:55Z",
		"messages":[{"role":"user","content":"Hello!","timestamp":"yesterday"}]}`))
	fmt.Println(err)
	// Output:
	// Test Chat 1 25
	// {"context":{},"created_at":"2026-11-24T14:23:55.854406Z","id":"c017f8f90719135e000341031ca258d0","llm_backend":"anthropic","messages":[{"content":"Hello!","role":"user","timestamp":"2026-11-24T14:23:55.857017Z"}],"name":"Test Chat","token_usage":{"input_tokens":10,"output_tokens":15},"updated_at":"2026-11-24T14:23:55.857031Z"}
	// session: messages[0].timestamp: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"
}

func ExampleSession_SaveToFile() {
	dir, err := os.MkdirTemp("", "session-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "my_session.json")

	s := session.New("anthropic").AddMessage("user", "Hello!")
	if err := s.SaveToFile(path); err != nil {
		log.Fatal(err)
	}
	loaded, err := session.LoadFromFile(path)
	if err != nil {
		log.Fatal(err)
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
