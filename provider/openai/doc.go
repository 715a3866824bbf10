// Package openai turns a session into requests of OpenAI's Chat Completions API, with
// the official SDK (github.com/openai/openai-go/v3), and its answers back into the
// session: messages, tool calls and token usage, losslessly, so that a session read back
// from a file or a store sends the same request again.
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
// This package is a module of its own, so that a program pulls only the SDK it uses.
package openai
