package llm

import (
	"context"
	"errors"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/exllm-go/session"
	sessionopenai "github.com/exllm-go/session/provider/openai"
)

// OpenAI is a model behind a Chat Completions endpoint: OpenAI, or a local server that
// speaks the same protocol (Ollama, llama.cpp, vLLM).
type OpenAI struct {
	client openai.Client
	model  string
	tokens func(string) int
	tools  []openai.ChatCompletionToolUnionParam
}

// openAIOptions returns the SDK's options for baseURL and apiKey.
func openAIOptions(baseURL, apiKey string) []option.RequestOption {
	opts := []option.RequestOption{option.WithHTTPClient(httpClient), option.WithMaxRetries(0)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if apiKey == "" {
		apiKey = "none" // local servers want no key, the SDK wants one
	}
	return append(opts, option.WithAPIKey(apiKey))
}

// NewOpenAI returns the model named model behind the Chat Completions endpoint at
// baseURL (without it, OpenAI's API, or $OPENAI_BASE_URL), with apiKey ("" for none),
// counting tokens with tokens and offering the given tools.
func NewOpenAI(baseURL, model, apiKey string, tokens func(string) int, tools ...Tool) *OpenAI {
	m := &OpenAI{client: openai.NewClient(openAIOptions(baseURL, apiKey)...), model: model, tokens: tokens}
	for _, t := range tools {
		m.tools = append(m.tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: t.Name, Description: openai.String(t.Description),
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
		}))
	}
	return m
}

// Name returns the model's name.
func (m *OpenAI) Name() string { return m.model }

// Count counts a message as OpenAI's models see it.
func (m *OpenAI) Count(msg session.Message) int { return count(m.tokens, msg) }

// Answer asks the model, streaming, with usage asked for and the session's prompt cache
// key (WithCacheKey). An endpoint that streams no usage even so (some compatible servers
// and mocks) gets an answer whose usage is the o200k_base count of the window and of
// the answer, marked Estimated.
func (m *OpenAI) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	params := openai.ChatCompletionNewParams{
		Model:         m.model,
		Messages:      sessionopenai.Messages(window),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	if key := cacheKeyOf(ctx); key != "" {
		params.PromptCacheKey = openai.String(key)
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
		return Answer{}, describe(err, "OPENAI_API_KEY")
	}
	if len(acc.Choices) == 0 {
		return Answer{}, errors.New("the model's answer ended before it began (no choices in the stream)")
	}
	choice := acc.Choices[0]
	if choice.FinishReason == "" {
		return Answer{}, errors.New("the model's answer was cut off (the stream ended without a finish reason)")
	}
	a := Answer{Text: choice.Message.Content, Usage: sessionopenai.Usage(acc.Usage)}
	a.Content, a.Options = sessionopenai.CompletionAnswer(acc.ChatCompletion)
	for _, c := range choice.Message.ToolCalls {
		a.Calls = append(a.Calls, ToolCall{ID: c.ID, Type: "function", Function: ToolFunction{Name: c.Function.Name, Arguments: c.Function.Arguments}})
	}
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

// OpenAIResponses is a model behind OpenAI's Responses API, asked statelessly: every
// request carries the conversation from the session, stores nothing at the provider and
// sends reasoning items back with their encrypted content.
type OpenAIResponses struct {
	client openai.Client
	model  string
	tokens func(string) int
	tools  []responses.ToolUnionParam
}

// NewOpenAIResponses returns the model named model behind the Responses API at baseURL
// (without it, OpenAI's), with apiKey, counting tokens with tokens and offering the
// given tools.
func NewOpenAIResponses(baseURL, model, apiKey string, tokens func(string) int, tools ...Tool) *OpenAIResponses {
	m := &OpenAIResponses{client: openai.NewClient(openAIOptions(baseURL, apiKey)...), model: model, tokens: tokens}
	for _, t := range tools {
		m.tools = append(m.tools, responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
			Name: t.Name, Description: openai.String(t.Description), Strict: openai.Bool(false),
			Parameters: map[string]any{"type": "object", "properties": map[string]any{}},
		}})
	}
	return m
}

// Name returns the model's name.
func (m *OpenAIResponses) Name() string { return m.model }

// Count counts a message as OpenAI's models see it.
func (m *OpenAIResponses) Count(msg session.Message) int { return count(m.tokens, msg) }

// Answer asks the model, streaming, statelessly, with the session's prompt cache key.
func (m *OpenAIResponses) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	params := responses.ResponseNewParams{
		Model: m.model,
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: sessionopenai.Input(window)},
		Tools: m.tools,
	}
	if key := cacheKeyOf(ctx); key != "" {
		params.PromptCacheKey = openai.String(key)
	}
	sessionopenai.Stateless(&params)
	stream := m.client.Responses.NewStreaming(ctx, params)
	defer stream.Close()
	var done *responses.Response
	for stream.Next() {
		switch e := stream.Current(); e.Type {
		case "response.output_text.delta":
			onText(e.Delta)
		case "response.completed", "response.incomplete":
			r := e.Response
			done = &r
		case "response.failed", "error":
			return Answer{}, errors.New("the model failed: " + e.Response.Error.Message + e.Message)
		}
	}
	if err := stream.Err(); err != nil {
		return Answer{}, describe(err, "OPENAI_API_KEY")
	}
	if done == nil {
		return Answer{}, errors.New("the model's answer was cut off (the stream ended before response.completed)")
	}
	a := Answer{Usage: sessionopenai.ResponseUsage(done.Usage)}
	a.Content, a.Options = sessionopenai.ResponseAnswer(*done)
	a.Text = a.Content
	for _, o := range done.Output {
		if o.Type == "function_call" {
			a.Calls = append(a.Calls, ToolCall{ID: o.CallID, Type: "function", Function: ToolFunction{Name: o.Name, Arguments: o.Arguments.OfString}})
		}
	}
	return a, nil
}
