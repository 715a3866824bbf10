package session_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/exllm-go/session"
)

// The benchmarks here come in pairs, the library beside a baseline of plain Go doing
// the same work, so that one run of
//
//	go test -run '^$' -bench . -benchmem
//
// measures the ratios the README reports.

var sinkSession session.Session
var sinkInt int

var sinkMessages []session.Message

// BenchmarkBuild builds a 10,000-message conversation with AddMessage (session) and
// by appending the same messages, stamped with the time as AddMessage does, to a plain
// []Message (slice).
func BenchmarkBuild(b *testing.B) {
	const n = 10_000
	b.Run("session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := session.New("openai")
			for range n {
				s = s.AddMessage("user", "Hello!")
			}
			sinkSession = s
		}
	})
	b.Run("slice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var msgs []session.Message
			for range n {
				msgs = append(msgs, session.Message{Role: "user", Content: "Hello!", Timestamp: time.Now().UTC().Truncate(time.Microsecond)})
			}
			sinkMessages = msgs
		}
	})
}

// BenchmarkGetMessages reads the last 10 messages of a short and of a long session.
func BenchmarkGetMessages(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		s := grow(session.New(""), "m", n)
		b.Run(fmt.Sprintf("last10-of-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkMessages = s.GetMessages(10)
			}
		})
	}
}

// plainMessage and plainSession are exported structs holding the same data as a
// session, for encoding/json to encode and decode as a baseline.
type plainMessage struct {
	Content   string    `json:"content"`
	Role      string    `json:"role"`
	Timestamp time.Time `json:"timestamp"`
}

type plainSession struct {
	Context    map[string]any `json:"context"`
	CreatedAt  time.Time      `json:"created_at"`
	ID         string         `json:"id"`
	LLMBackend *string        `json:"llm_backend"`
	Messages   []plainMessage `json:"messages"`
	Name       *string        `json:"name"`
	TokenUsage struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"token_usage"`
	UpdatedAt time.Time `json:"updated_at"`
}

// codecFixture returns a 10,000-message session of about 3.5 MB and its JSON.
func codecFixture(b *testing.B) (session.Session, []byte) {
	b.Helper()
	s := session.New("openai", session.WithName("benchmark")).
		SetContext(map[string]any{"model": "gpt-4o-mini", "temperature": 0.2})
	sentence := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 6)
	for i := range 10_000 {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		s = s.AddMessage(role, fmt.Sprintf("%d: %s", i, sentence))
	}
	data, err := s.ToJSON()
	if err != nil {
		b.Fatal(err)
	}
	return s, data
}

func BenchmarkEncode(b *testing.B) {
	s, data := codecFixture(b)
	var plain plainSession
	if err := json.Unmarshal(data, &plain); err != nil {
		b.Fatal(err)
	}
	b.Run("ToJSON", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ToJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&plain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	_, data := codecFixture(b)
	b.Run("FromJSON", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if sinkSession, err = session.FromJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var plain plainSession
			if err := json.Unmarshal(data, &plain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWindow takes a window of about 50 messages from a short and a long session,
// with EstimateTokens as the count.
func BenchmarkWindow(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		s := grow(session.New(""), "m", n)
		budget := 50 * session.EstimateTokens(s.GetMessages(1)[0])
		b.Run(fmt.Sprintf("50-of-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkMessages = s.Window(budget, session.EstimateTokens, session.KeepSystem())
			}
		})
	}
}

// BenchmarkWindowStable is BenchmarkWindow with StablePrefix, on sessions that grow
// by a message between windows, as a chat's do: the estimated tokens of the history are
// computed once, and each window costs what the plain one does.
func BenchmarkWindowStable(b *testing.B) {
	for _, stable := range []bool{false, true} {
		for _, n := range []int{100, 100_000} {
			s := grow(session.New(""), "m", n)
			budget := 50 * session.EstimateTokens(s.GetMessages(1)[0])
			opts := []session.WindowOption{session.KeepSystem()}
			name := fmt.Sprintf("plain/50-of-%d", n)
			if stable {
				opts = append(opts, session.StablePrefix())
				name = fmt.Sprintf("stable/50-of-%d", n)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s = s.AddMessage("user", "m")
					sinkMessages = s.Window(budget, session.EstimateTokens, opts...)
				}
			})
		}
	}
}

// BenchmarkAddToolCall adds an assistant message with one tool call, a []any as a
// reload gives it, to a session, the common case of WithExtra.
func BenchmarkAddToolCall(b *testing.B) {
	calls := []any{map[string]any{"id": "call_1", "type": "function",
		"function": map[string]any{"name": "current_time", "arguments": "{}"}}}
	b.ReportAllocs()
	s := session.New("openai")
	for b.Loop() {
		sinkSession = s.AddMessage("assistant", "", session.WithExtra("tool_calls", calls))
	}
}

// BenchmarkWindowOrphans takes a window of sessions that end in many tool results
// whose call is gone, each with another extra field, with a budget they all fit: the
// case that must stay linear in the messages examined.
func BenchmarkWindowOrphans(b *testing.B) {
	for _, n := range []int{10_000, 40_000, 80_000} {
		s := session.New("").AddMessage("user", "q")
		for i := range n {
			s = s.AddMessage("tool", "r", session.WithExtra("tool_call_id", fmt.Sprint("gone", i)),
				session.WithExtra("name", "f"))
		}
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkMessages = s.Window(math.MaxInt, session.EstimateTokens)
			}
		})
		// The baseline: a plain slice of the same messages, each looked at once, as the
		// least a window must do. Its cost per message grows with n as the memory the
		// messages take outgrows the processor's caches; Window's should grow alike.
		plain := s.GetMessages(0)
		b.Run(fmt.Sprintf("baseline-%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				kept := 0
				for i := len(plain) - 1; i >= 0; i-- {
					if _, ok := plain[i].Extra["tool_call_id"].(string); !ok {
						kept += len(plain[i].Content) + len(plain[i].Extra)
					}
				}
				sinkInt = kept
			}
		})
	}
}
