package llm

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/genai"

	"github.com/exllm-go/session"
	sessiongemini "github.com/exllm-go/session/provider/gemini"
)

// Gemini is a model behind Google's Gemini API.
type Gemini struct {
	client *genai.Client
	model  string
	tokens func(string) int
	tools  []*genai.Tool
}

// NewGemini returns the model named model behind the Gemini API at baseURL (the host's
// root; without it, Google's), with apiKey, counting tokens with tokens and offering the
// given tools.
func NewGemini(baseURL, model, apiKey string, tokens func(string) int, tools ...Tool) (*Gemini, error) {
	if apiKey == "" {
		apiKey = "none" // a local server wants none, the SDK wants one
	}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: apiKey, Backend: genai.BackendGeminiAPI, HTTPClient: httpClient,
		HTTPOptions: genai.HTTPOptions{BaseURL: baseURL, APIVersion: "v1beta"}, // the version of Google's own examples
	})
	if err != nil {
		return nil, fmt.Errorf("llm: the Gemini client: %w", err)
	}
	m := &Gemini{client: client, model: model, tokens: tokens}
	if len(tools) > 0 {
		decl := &genai.Tool{}
		for _, t := range tools {
			decl.FunctionDeclarations = append(decl.FunctionDeclarations, &genai.FunctionDeclaration{Name: t.Name, Description: t.Description})
		}
		m.tools = []*genai.Tool{decl}
	}
	return m, nil
}

// Name returns the model's name.
func (m *Gemini) Name() string { return m.model }

// Count counts a message with the o200k_base tokenizer: an estimate of Gemini's.
func (m *Gemini) Count(msg session.Message) int { return count(m.tokens, msg) }

// Answer asks the model, streaming; the usage is the last chunk's.
func (m *Gemini) Answer(ctx context.Context, window []session.Message, onText func(string)) (Answer, error) {
	system, contents := sessiongemini.Contents(window)
	var acc sessiongemini.Accumulator
	for chunk, err := range m.client.Models.GenerateContentStream(ctx, m.model, contents,
		&genai.GenerateContentConfig{SystemInstruction: system, Tools: m.tools}) {
		if err != nil {
			return Answer{}, describe(err, "GEMINI_API_KEY")
		}
		if len(chunk.Candidates) > 0 && chunk.Candidates[0].Content != nil {
			for _, p := range chunk.Candidates[0].Content.Parts {
				if p != nil && p.Text != "" && !p.Thought {
					onText(p.Text)
				}
			}
		}
		acc.Add(chunk)
	}
	a := Answer{Usage: acc.Usage()}
	a.Content, a.Options = acc.Answer()
	a.Text = a.Content
	for _, c := range acc.Calls() {
		a.Calls = append(a.Calls, ToolCall{ID: c.ID, Type: "function", Function: ToolFunction{Name: c.Name, Arguments: argumentsJSON(c.Args)}})
	}
	return a, nil
}

// argumentsJSON returns v as the JSON text of a call's arguments.
func argumentsJSON(v any) string {
	if v == nil {
		return "{}"
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(data)
}
