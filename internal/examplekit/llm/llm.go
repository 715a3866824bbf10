// Package llm is what the chat and the server examples ask for answers: a model of
// OpenAI (Chat Completions or the Responses API), Anthropic or Gemini, through the
// session's provider adapters and each provider's SDK, or the built-in local responder,
// which needs no network.
package llm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tiktoken-go/tokenizer"

	"github.com/exllm-go/session"
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
	// Content and Options record the answer in a session in the provider's own shape
	// (its parts, signatures, calls), without its usage:
	// s.AddMessage("assistant", a.Content, append(a.Options, session.WithUsage(a.Usage))...).
	Content string
	Options []session.MessageOption
}

// ToolCall is a call of a tool, in the JSON form of OpenAI's tool_calls, whatever the
// provider. Its ID is "" for a provider that gives none (Gemini may not): the result
// then answers the call before it.
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

// Tool is a tool offered to a model: a function that takes no arguments.
type Tool struct {
	Name        string
	Description string
}

// Function returns the definition of a tool that takes no arguments.
func Function(name, description string) Tool { return Tool{Name: name, Description: description} }

// The providers Choose knows, as the -provider flag names them.
const (
	ProviderOpenAI          = "openai"           // Chat Completions
	ProviderOpenAIResponses = "openai-responses" // the Responses API
	ProviderAnthropic       = "anthropic"
	ProviderGemini          = "gemini"
)

// Choose returns the model that the flags -provider, -base-url and -model name: the
// local responder without -base-url and -model, else the named model of the provider
// (Chat Completions by default), at baseURL if given (OpenAI's takes http://host/v1,
// Anthropic's and Gemini's the host's root), with the API key of the provider's variable:
// OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or GOOGLE_API_KEY). The model is
// offered the given tools.
func Choose(provider, baseURL, model string, tools ...Tool) (Model, error) {
	if provider == "" {
		provider = ProviderOpenAI
	}
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
	switch provider {
	case ProviderOpenAI:
		return NewOpenAI(baseURL, model, os.Getenv("OPENAI_API_KEY"), tokens, tools...), nil
	case ProviderOpenAIResponses:
		return NewOpenAIResponses(baseURL, model, os.Getenv("OPENAI_API_KEY"), tokens, tools...), nil
	case ProviderAnthropic:
		return NewAnthropic(baseURL, model, os.Getenv("ANTHROPIC_API_KEY"), tokens, tools...), nil
	case ProviderGemini:
		key := os.Getenv("GEMINI_API_KEY")
		if key == "" {
			key = os.Getenv("GOOGLE_API_KEY")
		}
		return NewGemini(baseURL, model, key, tokens, tools...)
	}
	return nil, fmt.Errorf("-provider %q: give openai, openai-responses, anthropic or gemini", provider)
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

// count counts a message as a model sees it, with tokens: the tokens of its role, its
// content and the fields it sends, and three of framing.
func count(tokens func(string) int, msg session.Message) int {
	n := 3 + tokens(msg.Role) + tokens(msg.Content)
	for key, v := range msg.Extra {
		if key == "tool_calls" || key == "tool_call_id" {
			n += tokens(fmt.Sprint(v))
		}
	}
	for _, p := range msg.Parts {
		n += tokens(fmt.Sprint(p))
	}
	return n
}

// PurposeHeader is the header that says what a request other than a turn is for, so
// that a gateway or a log can tell summary calls from turns: "summary".
const PurposeHeader = "X-Request-Purpose"

type purposeKey struct{}

// WithPurpose returns ctx carrying what the requests made with it are for, which they
// send in PurposeHeader.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// purposeOf returns the purpose WithPurpose put in ctx, or "".
func purposeOf(ctx context.Context) string {
	purpose, _ := ctx.Value(purposeKey{}).(string)
	return purpose
}

type cacheKey struct{}

// WithCacheKey returns ctx carrying the key of the session a request belongs to, which
// OpenAI's models send as prompt_cache_key: the session's ID.
func WithCacheKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, cacheKey{}, key)
}

// cacheKeyOf returns the key WithCacheKey put in ctx, or "".
func cacheKeyOf(ctx context.Context) string {
	key, _ := ctx.Value(cacheKey{}).(string)
	return key
}
