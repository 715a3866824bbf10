// Package openai turns a session into requests of OpenAI's Chat Completions API and of
// its Responses API, with the official SDK (github.com/openai/openai-go/v3), and their
// answers back into the session: messages, tool calls, reasoning items and token usage,
// losslessly, so that a session read back from a file or a store sends the same request
// again. An answer of either API can be sent to the other: AppendResponse records the
// function calls in Chat Completions' shape too, and Input converts what Chat
// Completions recorded.
//
// With the Responses API the session is the memory: Stateless sets a request to store
// nothing at the provider, with no previous_response_id, and to return the reasoning
// items' encrypted content, which Input sends back.
//
// The conversions are pure functions over the SDK's own types: no network, no client.
//
//	params := openai.ChatCompletionNewParams{
//		Model:          "gpt-4o-mini",
//		Messages:       chat.Messages(s.Window(8000, count, session.KeepSystem())),
//		PromptCacheKey: openai.String(chat.PromptCacheKey(s)),
//	}
//	completion, err := client.Chat.Completions.New(ctx, params)
//	s = chat.AppendCompletion(s, *completion)
//
// (chat is this package, imported under a name that does not clash with the SDK's.)
//
// This package is a module of its own, so that a program pulls only the SDK it uses.
package openai
