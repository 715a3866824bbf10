package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"

	"github.com/exllm-go/session"
)

// plainMessage and plainSession are exported structs holding the same data as the
// benchmark's session, for the general libraries to decode and encode.
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

// fixture returns the README's benchmark shape: a 10,000-message session of about
// 3.5 MB, its JSON, and the plain struct of the same data.
func fixture(b *testing.B) (session.Session, []byte, plainSession) {
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
	var plain plainSession
	if err := json.Unmarshal(data, &plain); err != nil {
		b.Fatal(err)
	}
	return s, data, plain
}

var (
	sinkSession session.Session
	sinkBytes   []byte
)

func BenchmarkDecode(b *testing.B) {
	_, data, _ := fixture(b)
	decoders := []struct {
		name   string
		decode func() error
	}{
		{"FromJSON", func() (err error) { sinkSession, err = session.FromJSON(data); return err }},
		{"goccy-go-json", func() error { var p plainSession; return gojson.Unmarshal(data, &p) }},
		{"sonic", func() error { var p plainSession; return sonic.Unmarshal(data, &p) }},
		{"encoding-json", func() error { var p plainSession; return json.Unmarshal(data, &p) }},
	}
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	s, data, plain := fixture(b)
	encoders := []struct {
		name   string
		encode func() error
	}{
		{"ToJSON", func() (err error) { sinkBytes, err = s.ToJSON(); return err }},
		{"goccy-go-json", func() (err error) { sinkBytes, err = gojson.Marshal(&plain); return err }},
		{"sonic", func() (err error) { sinkBytes, err = sonic.Marshal(&plain); return err }},
		{"encoding-json", func() (err error) { sinkBytes, err = json.Marshal(&plain); return err }},
	}
	for _, e := range encoders {
		b.Run(e.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSameData checks that the baselines decode and encode the data the session holds,
// so that the benchmarks compare the same work.
func TestSameData(t *testing.T) {
	b := &testing.B{}
	_ = b
	s := session.New("openai").AddMessage("user", "hi")
	data, err := s.ToJSON()
	if err != nil {
		t.Fatal(err)
	}
	var viaGoccy, viaSonic plainSession
	if err := gojson.Unmarshal(data, &viaGoccy); err != nil {
		t.Fatal(err)
	}
	if err := sonic.Unmarshal(data, &viaSonic); err != nil {
		t.Fatal(err)
	}
	if viaGoccy.Messages[0].Content != "hi" || viaSonic.Messages[0].Content != "hi" || !viaGoccy.CreatedAt.Equal(s.CreatedAt()) {
		t.Fatalf("decoded %+v and %+v", viaGoccy, viaSonic)
	}
}
