package anthropic_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/exllm-go/session"
	sessionanthropic "github.com/exllm-go/session/provider/anthropic"
)

// Claude Sonnet's prices per million tokens: input, cache writes (1.25x), cache reads
// (0.1x), as Anthropic publishes them.
const priceInput, priceWrite, priceRead = 3.0, 3.75, 0.30

// lookback is how many blocks before a marker Anthropic looks for a cached prefix.
const lookback = 20

// cacheSim simulates Anthropic's prompt cache: a marker caches the prefix through its
// block; a request reads the longest cached prefix that ends at a marker or within the
// lookback blocks before one, writes the rest up to its last marker, and pays the input
// price for what follows.
type cacheSim struct {
	cached               map[[32]byte]bool
	input, written, read float64
}

// request tallies one request's body, as the SDK writes it.
func (c *cacheSim) request(t testing.TB, body []byte) {
	var req struct {
		System   []map[string]any `json:"system"`
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	type block struct {
		tokens int
		marked bool
		key    [32]byte // of the prefix through this block
	}
	var blocks []block
	h := sha256.New()
	add := func(role string, b map[string]any) {
		_, marked := b["cache_control"]
		delete(b, "cache_control")
		data, _ := json.Marshal(b)
		fmt.Fprintf(h, "%s:%s\n", role, data)
		var key [32]byte
		copy(key[:], h.Sum(nil))
		blocks = append(blocks, block{tokens: len(data)/4 + 1, marked: marked, key: key})
	}
	for _, b := range req.System {
		add("system", b)
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			add(m.Role, b)
		}
	}
	hit, last := -1, -1
	for i, b := range blocks {
		if !b.marked {
			continue
		}
		last = i
		for j := i; j >= 0 && i-j < lookback; j-- {
			if c.cached[blocks[j].key] && j > hit {
				hit = j
				break
			}
		}
	}
	for i, b := range blocks {
		switch {
		case i <= hit:
			c.read += float64(b.tokens)
		case i <= last:
			c.written += float64(b.tokens)
		default:
			c.input += float64(b.tokens)
		}
		if b.marked {
			c.cached[b.key] = true
		}
	}
}

func (c *cacheSim) dollars() float64 {
	return (c.input*priceInput + c.written*priceWrite + c.read*priceRead) / 1e6
}

// chatReplay replays a conversation of turns turns of the given shape, the way the chat
// asks Anthropic's models (a window of budget tokens with KeepSystem and StablePrefix,
// markers at the previous request's end and the last message), and returns the
// simulated cost with the markers and without any, and the requests.
func chatReplay(t testing.TB, shape string, turns, budget int, seed uint64) (marked, unmarked float64, requests int) {
	r := rand.New(rand.NewPCG(seed, 9))
	words := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "w%d ", r.IntN(1000)+i)
		}
		return b.String()
	}
	with, without := &cacheSim{cached: map[[32]byte]bool{}}, &cacheSim{cached: map[[32]byte]bool{}}
	s := session.New("anthropic").AddMessage("system", "You are a helpful assistant. "+words(200))
	ask := func() {
		window := s.Window(budget, nil, session.KeepSystem(), session.StablePrefix())
		last := session.RepeatedPrefix(window)
		for _, sim := range []*cacheSim{with, without} {
			system, messages := sessionanthropic.Request(window, last)
			body, err := json.Marshal(map[string]any{"system": system, "messages": messages})
			if err != nil {
				t.Fatal(err)
			}
			if sim == without {
				body = []byte(strings.ReplaceAll(string(body), `"cache_control":{"type":"ephemeral"}`, `"x":0`))
			}
			sim.request(t, body)
		}
		requests++
	}
	for turn := range turns {
		s = s.AddMessage("user", words(5+r.IntN(60)))
		if shape == "tool-heavy" && r.IntN(2) == 0 {
			ask()
			id := fmt.Sprint("toolu_", turn)
			calls := []any{map[string]any{"id": id, "type": "function", "function": map[string]any{"name": "lookup", "arguments": "{}"}}}
			s = s.AddMessage("assistant", "", session.WithExtra("tool_calls", calls))
			s = s.AddMessage("tool", words(50+r.IntN(300)), session.WithExtra("tool_call_id", id))
		}
		ask()
		s = s.AddMessage("assistant", words(20+r.IntN(150)))
	}
	return with.dollars(), without.dollars(), requests
}

// TestCacheMarkersPay: on replayed chats, the markers make the simulated cost lower
// than none: the requests read most of their input from the cache.
func TestCacheMarkersPay(t *testing.T) {
	for _, shape := range []string{"chatty", "tool-heavy"} {
		marked, unmarked, _ := chatReplay(t, shape, 120, 6000, 1)
		assert.Less(t, marked, unmarked/2, "%s: %.4f with markers, %.4f without", shape, marked, unmarked)
	}
}

// BenchmarkCacheCost reports the simulated input cost per 1,000 turns of the chat's
// requests at Claude Sonnet's prices, with the markers and without (docs/PERFORMANCE.md):
// go test -run '^$' -bench CacheCost ./provider/anthropic
func BenchmarkCacheCost(b *testing.B) {
	for _, shape := range []string{"chatty", "tool-heavy"} {
		b.Run(shape, func(b *testing.B) {
			const turns = 300
			var marked, unmarked float64
			for b.Loop() {
				marked, unmarked, _ = chatReplay(b, shape, turns, 8000, 1)
			}
			b.ReportMetric(marked*1000/turns, "$marked/1kturns")
			b.ReportMetric(unmarked*1000/turns, "$unmarked/1kturns")
		})
	}
}
