// Package llm is what the chat and the server examples ask for answers: a model behind
// a Chat Completions endpoint, or the built-in local responder, which needs no network.
package llm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tiktoken-go/tokenizer"

	"github.com/exllm-go/session"
	sessionopenai "github.com/exllm-go/session/provider/openai"
)

// A Model answers a conversation: it streams its text to onText as it comes, and
// returns the whole answer, which may call tools instead of, or besides, saying text.
type Model interface {
	Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error)
	// Count returns the tokens a message takes in the model's context window.
	Count(m session.Message) int
	// Name says what answers, for the user.
	Name() string
}

// Answer is one answer of a model.
type Answer struct {
	Text  string
	Calls []ToolCall
	Usage session.TokenUsage
	// Estimated is true when Usage is an estimate, not the provider's count: the local
	// responder's, or, for an endpoint that reported no usage, the o200k_base counts of
	// what was sent and received.
	Estimated bool
}

// ToolCall is a call of a tool, in the JSON form of OpenAI's tool_calls.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function ToolFunction `json:"function"`
}

// ToolFunction is the function a ToolCall calls, with its arguments in JSON.
type ToolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Choose returns the model that the flags -base-url and -model name: the local
// responder without either, else the model named at the endpoint (OpenAI's without
// -base-url), with the API key in $OPENAI_API_KEY, offered the given tools.
func Choose(baseURL, model string, tools ...Tool) (Model, error) {
	if baseURL == "" && model == "" {
		return Local{}, nil
	}
	if model == "" {
		return nil, errors.New("-base-url needs -model: name the model to ask, as the server lists it")
	}
	tokens, err := O200k()
	if err != nil {
		return nil, err
	}
	return NewOpenAI(baseURL, model, os.Getenv("OPENAI_API_KEY"), tokens, tools...), nil
}

// O200k returns a counter of the tokens of a text in the o200k_base encoding (GPT-4o's
// and later OpenAI models').
func O200k() (func(string) int, error) {
	enc, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		return nil, fmt.Errorf("llm: the o200k_base tokenizer: %w", err)
	}
	return func(s string) int {
		n, err := enc.Count(s)
		if err != nil {
			return session.EstimateTokens(session.Message{Content: s})
		}
		return n
	}, nil
}

// OpenAI is a model behind a Chat Completions endpoint: OpenAI, or a local server that
// speaks the same protocol (Ollama, llama.cpp, vLLM).
type OpenAI struct {
	client openai.Client
	model  string
	tokens func(string) int
	tools  []Tool
}

// Tool is a tool offered to a model, as Function defines it.
type Tool = openai.ChatCompletionToolUnionParam

// NewOpenAI returns the model named model behind the endpoint at baseURL (without it,
// OpenAI's API, or $OPENAI_BASE_URL), with apiKey ("" for none), counting tokens with
// tokens and offering the given tools.
func NewOpenAI(baseURL, model, apiKey string, tokens func(string) int, tools ...Tool) *OpenAI {
	var opts []option.RequestOption
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if apiKey == "" {
		apiKey = "none" // local servers want no key, the SDK wants one
	}
	opts = append(opts, option.WithAPIKey(apiKey))
	return &OpenAI{client: openai.NewClient(opts...), model: model, tokens: tokens, tools: tools}
}

// Name returns the model's name.
func (m *OpenAI) Name() string { return m.model }

// Count counts a message as OpenAI's models see it: the tokens of its role, content and
// tool calls, and three of framing.
func (m *OpenAI) Count(msg session.Message) int {
	n := 3 + m.tokens(msg.Role) + m.tokens(msg.Content)
	for key, v := range msg.Extra {
		if key == "tool_calls" || key == "tool_call_id" {
			n += m.tokens(fmt.Sprint(v))
		}
	}
	return n
}

// Function returns the definition of a tool that takes no arguments.
func Function(name, description string) Tool {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        name,
		Description: openai.String(description),
		Parameters:  shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
	})
}

// Answer asks the model, streaming, with usage asked for. An endpoint that streams no
// usage even so (some compatible servers and mocks) gets an answer whose usage is the
// o200k_base count of the window and of the answer, marked Estimated.
func (m *OpenAI) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	params := openai.ChatCompletionNewParams{
		Model:         m.model,
		Messages:      sessionopenai.Messages(window),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	if len(m.tools) > 0 {
		params.Tools = m.tools
	}
	stream := m.client.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	reported := false
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if chunk.JSON.Usage.Valid() {
			reported = true
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			onText(chunk.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		return Answer{}, describeAPIError(err)
	}
	if len(acc.Choices) == 0 {
		return Answer{}, errors.New("the model's answer ended before it began (no choices in the stream)")
	}
	choice := acc.Choices[0]
	if choice.FinishReason == "" {
		return Answer{}, errors.New("the model's answer was cut off (the stream ended without a finish reason)")
	}
	a := Answer{Text: choice.Message.Content}
	for _, c := range choice.Message.ToolCalls {
		a.Calls = append(a.Calls, ToolCall{ID: c.ID, Type: "function", Function: ToolFunction{Name: c.Function.Name, Arguments: c.Function.Arguments}})
	}
	a.Usage = sessionopenai.Usage(acc.Usage)
	if !reported || a.Usage.IsZero() {
		a.Usage, a.Estimated = session.TokenUsage{}, true
		for _, msg := range window {
			a.Usage.InputTokens += m.Count(msg)
		}
		a.Usage.OutputTokens = m.tokens(a.Text)
		for _, c := range a.Calls {
			a.Usage.OutputTokens += m.tokens(c.Function.Name) + m.tokens(c.Function.Arguments)
		}
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
