package llm

import (
	"context"
	"errors"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/exllm-go/session"
	sessionanthropic "github.com/exllm-go/session/provider/anthropic"
)

// anthropicMaxTokens is the most tokens an answer of Anthropic's models may take.
const anthropicMaxTokens = 4096

// Anthropic is a model behind Anthropic's Messages API, asked with cache markers on the
// system prompt, the end of the previous request and the last message.
type Anthropic struct {
	client anthropic.Client
	model  string
	tokens func(string) int
	tools  []anthropic.ToolUnionParam
}

// NewAnthropic returns the model named model behind the Messages API at baseURL (the
// host's root; without it, Anthropic's), with apiKey, counting tokens with tokens and
// offering the given tools.
func NewAnthropic(baseURL, model, apiKey string, tokens func(string) int, tools ...Tool) *Anthropic {
	if apiKey == "" {
		apiKey = "none" // a local server wants none, the SDK wants one
	}
	opts := []option.RequestOption{option.WithHTTPClient(httpClient), option.WithMaxRetries(0), option.WithAPIKey(apiKey)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	m := &Anthropic{client: anthropic.NewClient(opts...), model: model, tokens: tokens}
	for _, t := range tools {
		m.tools = append(m.tools, anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
			Name: t.Name, Description: anthropic.String(t.Description),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}},
		}})
	}
	return m
}

// Name returns the model's name.
func (m *Anthropic) Name() string { return m.model }

// Count counts a message with the o200k_base tokenizer: an estimate of Anthropic's.
func (m *Anthropic) Count(msg session.Message) int { return count(m.tokens, msg) }

// Answer asks the model, streaming. The previous request ended before the window's last
// answer: a cache marker there lets this one read what that one wrote.
func (m *Anthropic) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	system, messages := sessionanthropic.Request(window, session.RepeatedPrefix(window))
	stream := m.client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model: anthropic.Model(m.model), MaxTokens: anthropicMaxTokens, System: system, Messages: messages, Tools: m.tools,
	})
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		event := stream.Current()
		if err := msg.Accumulate(event); err != nil {
			return Answer{}, err
		}
		if event.Type == "content_block_delta" && event.Delta.Type == "text_delta" {
			onText(event.Delta.Text)
		}
	}
	if err := stream.Err(); err != nil {
		return Answer{}, describe(err, "ANTHROPIC_API_KEY")
	}
	if msg.StopReason == "" {
		return Answer{}, errors.New("the model's answer was cut off (the stream ended without a stop reason)")
	}
	a := Answer{Usage: sessionanthropic.Usage(msg.Usage)}
	a.Content, a.Options = sessionanthropic.Answer(msg)
	a.Text = a.Content
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			a.Calls = append(a.Calls, ToolCall{ID: b.ID, Type: "function", Function: ToolFunction{Name: b.Name, Arguments: string(b.Input)}})
		}
	}
	return a, nil
}
