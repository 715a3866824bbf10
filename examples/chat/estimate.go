package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/exllm-go/session"
)

// estimatedKey is the key of the session's context under which the chat keeps the part
// of its token usage that is estimated, not a provider's count: the local responder's,
// and an endpoint's that reported none. Each message whose usage is an estimate also
// carries estimatedMark.
const (
	estimatedKey  = "estimated_token_usage"
	estimatedMark = "token_usage_estimated"
)

// estimated returns the part of the token usage of s that is estimated.
func estimated(s session.Session) session.TokenUsage {
	v, _ := s.Context()[estimatedKey].(map[string]any)
	count := func(key string) int {
		n, _ := v[key].(json.Number)
		i, _ := strconv.Atoi(string(n))
		return i
	}
	return session.TokenUsage{InputTokens: count("input_tokens"), OutputTokens: count("output_tokens")}
}

// withEstimate returns s with u added to the estimated part of its token usage. The
// usage itself is added where it is spent (session.WithUsage, UpdateTokenUsage).
func withEstimate(s session.Session, u session.TokenUsage) session.Session {
	if u.IsZero() {
		return s
	}
	total := estimated(s)
	total.InputTokens += u.InputTokens
	total.OutputTokens += u.OutputTokens
	ctx := s.Context()
	ctx[estimatedKey] = map[string]any{"input_tokens": total.InputTokens, "output_tokens": total.OutputTokens}
	return s.SetContext(ctx)
}

// describeEstimate says how much of u is estimated, or "" if none is.
func describeEstimate(u, est session.TokenUsage) string {
	if est.IsZero() {
		return ""
	}
	if est.InputTokens >= u.InputTokens && est.OutputTokens >= u.OutputTokens {
		return fmt.Sprintf("All of it is estimated (%d in, %d out), not a provider's count.", est.InputTokens, est.OutputTokens)
	}
	return fmt.Sprintf("Of it, %d in and %d out are estimated; %d in and %d out were measured by the provider.",
		est.InputTokens, est.OutputTokens, max(u.InputTokens-est.InputTokens, 0), max(u.OutputTokens-est.OutputTokens, 0))
}
