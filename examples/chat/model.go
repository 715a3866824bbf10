package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/exllm-go/session"
)

// A model answers a conversation: it streams its text to onText as it comes, and
// returns the whole answer, which may call tools instead of, or besides, saying text.
type model interface {
	answer(ctx context.Context, window []session.Message, onText func(string)) (answer, error)
	// count returns the tokens a message takes in the model's context window.
	count(m session.Message) int
	// name says what answers, for the user.
	name() string
}

// answer is one answer of a model.
type answer struct {
	text  string
	calls []toolCall
	usage session.TokenUsage
	// estimated is true when usage is an estimate, not the provider's count.
	estimated bool
}

// toolCall is a call of a tool, in the JSON form of OpenAI's tool_calls.
type toolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// openAIModel is a model behind a Chat Completions endpoint: OpenAI, or a local server
// that speaks the same protocol (Ollama, llama.cpp, vLLM).
type openAIModel struct {
	client openai.Client
	model  string
	tokens func(string) int
}

func newOpenAIModel(baseURL, modelName, apiKey string, tokens func(string) int) *openAIModel {
	var opts []option.RequestOption // without -base-url, the SDK's: OpenAI's API, or $OPENAI_BASE_URL
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if apiKey != "" {
		opts = append(opts, option.WithAPIKey(apiKey))
	} else {
		opts = append(opts, option.WithAPIKey("none")) // local servers want no key, the SDK wants one
	}
	return &openAIModel{client: openai.NewClient(opts...), model: modelName, tokens: tokens}
}

func (m *openAIModel) name() string { return m.model }

// count counts a message as OpenAI's models see it: the tokens of its role, content
// and tool calls, and three of framing.
func (m *openAIModel) count(msg session.Message) int {
	n := 3 + m.tokens(msg.Role) + m.tokens(msg.Content)
	for key, v := range msg.Extra {
		if key == "tool_calls" || key == "tool_call_id" {
			n += m.tokens(fmt.Sprint(v))
		}
	}
	return n
}

// tools are the tools the chat offers a model.
var tools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        currentTimeTool,
		Description: openai.String("The current local date and time, in RFC 3339."),
		Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
	}),
}

func (m *openAIModel) answer(ctx context.Context, window []session.Message, onText func(string)) (answer, error) {
	params := openai.ChatCompletionNewParams{
		Model:         m.model,
		Messages:      requestMessages(window),
		Tools:         tools,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	stream := m.client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			onText(chunk.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		return answer{}, describeAPIError(err)
	}
	if len(acc.Choices) == 0 {
		return answer{}, errors.New("the model's answer ended before it began (no choices in the stream)")
	}
	choice := acc.Choices[0]
	if choice.FinishReason == "" {
		return answer{}, errors.New("the model's answer was cut off (the stream ended without a finish reason)")
	}
	a := answer{text: choice.Message.Content}
	for _, c := range choice.Message.ToolCalls {
		a.calls = append(a.calls, toolCall{ID: c.ID, Type: "function", Function: toolFunction{Name: c.Function.Name, Arguments: c.Function.Arguments}})
	}
	u := acc.Usage
	a.usage = session.TokenUsage{
		InputTokens:     int(u.PromptTokens),
		OutputTokens:    int(u.CompletionTokens),
		CacheReadTokens: int(u.PromptTokensDetails.CachedTokens),
		ReasoningTokens: int(u.CompletionTokensDetails.ReasoningTokens),
	}
	return a, nil
}

// describeAPIError says what went wrong with a request in a sentence a user can act on.
func describeAPIError(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		msg := strings.TrimSpace(apiErr.Message)
		switch code := apiErr.StatusCode; {
		case code == 401 || code == 403:
			return fmt.Errorf("the model's server refused the API key (HTTP %d: %s); set OPENAI_API_KEY", code, msg)
		case code == 404:
			return fmt.Errorf("the model's server has no such model or endpoint (HTTP 404: %s); check -model and -base-url", msg)
		case code == 429:
			return fmt.Errorf("the model's server is rate limiting or out of quota (HTTP 429: %s); wait and try again", msg)
		case code >= 500:
			return fmt.Errorf("the model's server failed (HTTP %d: %s); try again later", code, msg)
		default:
			return fmt.Errorf("the model's server refused the request (HTTP %d: %s)", code, msg)
		}
	}
	return fmt.Errorf("talking to the model: %w", err)
}

// requestMessages converts a window of the session into Chat Completions messages.
func requestMessages(window []session.Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(window))
	for _, m := range window {
		switch m.Role {
		case "system":
			out = append(out, openai.SystemMessage(m.Content))
		case "assistant":
			a := openai.ChatCompletionAssistantMessageParam{}
			if m.Content != "" {
				a.Content.OfString = openai.String(m.Content)
			}
			calls, _ := m.Extra["tool_calls"].([]any)
			for _, c := range calls {
				c, _ := c.(map[string]any)
				f, _ := c["function"].(map[string]any)
				id, _ := c["id"].(string)
				name, _ := f["name"].(string)
				args, _ := f["arguments"].(string)
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       id,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: name, Arguments: args},
					},
				})
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case "tool":
			id, _ := m.Extra["tool_call_id"].(string)
			out = append(out, openai.ToolMessage(m.Content, id))
		default:
			out = append(out, openai.UserMessage(m.Content))
		}
	}
	return out
}

// localModel is the built-in responder: a deterministic answer that shows what it was
// sent, with no network and no API key. Its usage is an estimate.
type localModel struct{}

func (localModel) name() string { return "the local responder" }

func (localModel) count(m session.Message) int { return session.EstimateTokens(m) }

func (localModel) answer(ctx context.Context, window []session.Message, onText func(string)) (answer, error) {
	var first, last string
	turns := 0
	for _, m := range window {
		if m.Role == "user" {
			if turns == 0 {
				first = m.Content
			}
			last = m.Content
			turns++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You said %q.", last)
	if turns == 1 {
		fmt.Fprintf(&b, " It is the only question I was sent")
	} else {
		fmt.Fprintf(&b, " I was sent %d of your messages; the oldest I see is %q", turns, first)
	}
	fmt.Fprintf(&b, " (%s in all).", plural(len(window), "message"))
	text := b.String()
	onText(text)
	u := session.TokenUsage{OutputTokens: session.EstimateTokens(session.Message{Role: "assistant", Content: text})}
	for _, m := range window {
		u.InputTokens += session.EstimateTokens(m)
	}
	return answer{text: text, usage: u, estimated: true}, ctx.Err()
}
