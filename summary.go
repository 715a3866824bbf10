package session

import (
	"encoding/json"
	"github.com/exllm-go/session/internal/jsonwire"
	"strconv"
)

// summary is a session's summary of its first messages: see Summarize.
type summary struct {
	text    string
	through int
}

// summaryKey is the top-level key of a session's JSON that holds its summary, an object
// {"text": "...", "through": N}. ExLLM v0.5.0 ignores it and keeps every message.
const summaryKey = "summary"

// Summarize returns s recording that text summarizes its messages before index through
// (a rolling summary replaces the one before: summarize the previous summary and the
// messages after it). The messages stay: GetMessages, Len and ToJSON hold every one.
// Window sends the summary instead of those messages (see [Session.Window]). through is cut to
// Len(); a through of 0 or less, or an empty text, removes the summary. Truncate or
// ClearMessages to fewer messages than through removes it too.
//
// The summary is part of the session's header: written in its JSON under "summary"
// ({"text": ..., "through": N}, a key ExLLM ignores), compared by Equal, covered by
// Digest, and kept by a store with the header, so that a partial session (see
// FirstIndex) has it. CommonPrefixLen compares messages only.
func (s Session) Summarize(through int, text string) Session {
	through = min(through, s.messages.len())
	if through <= 0 || text == "" {
		if s.summary == nil {
			return s
		}
		s.summary = nil
	} else {
		s.summary = &summary{text: text, through: through}
		if _, ok := s.unknown[summaryKey]; ok { // a file's own "summary", replaced
			unknown := cloneMap(s.unknown)
			delete(unknown, summaryKey)
			s.unknown = unknown
		}
	}
	return s.touched()
}

// Summary returns the text of the session's summary and the index of the first message
// it does not cover; "", 0 when there is none.
func (s Session) Summary() (text string, through int) {
	if s.summary == nil {
		return "", 0
	}
	return s.summary.text, s.summary.through
}

// SummaryPoint returns the index up to which to summarize s so that the messages after
// it, counted with count (nil for EstimateTokens), add up to keep tokens at most: the
// messages from the current summary's end (or after the leading system messages, which
// KeepSystem sends anyway) up to the result are the ones to fold into the next summary.
// It never cuts a tool group: the messages after the result begin with a call and its
// results, or a message that is no result. It returns the current summary's end when
// there is nothing to fold in. For a partial session (see [Session.FirstIndex]), it counts only
// the messages it holds; the messages to fold in may begin before them, and a store
// gives those (sqlstore's Messages).
func (s Session) SummaryPoint(keep int, count func(Message) int) int {
	if count == nil {
		count = EstimateTokens
	}
	msgs, first := s.messages.view(), s.messages.first()
	floor := 0
	if first == 0 {
		for floor < len(msgs) && msgs[floor].Role == "system" {
			floor++
		}
	}
	if s.summary != nil {
		floor = max(floor, s.summary.through)
	}
	// The earliest held message from which the rest fits in keep.
	at, used := len(msgs), 0
	for at > 0 && first+at > floor {
		m := msgs[at-1]
		if m.mutable() {
			m = m.clone()
		}
		c := max(count(m), 0)
		if c > keep-used {
			break
		}
		used += c
		at--
	}
	// Not inside a tool group: past results whose call is before the cut.
	var ref toolRefs
	for at < len(msgs) {
		if ref.of(msgs[at]); !ref.answers() {
			break
		}
		at++
	}
	return max(first+at, floor)
}

// Slice returns copies of the messages of s from index from to index to (not included),
// oldest first, of those it holds: a range of a partial session (see [Session.FirstIndex]) is cut
// to its messages, and indexes out of range are cut to the session's.
func (s Session) Slice(from, to int) []Message {
	msgs, first := s.messages.view(), s.messages.first()
	from, to = max(from-first, 0), min(to-first, len(msgs))
	if from >= to {
		return []Message{}
	}
	out := make([]Message, 0, to-from)
	for _, m := range msgs[from:to] {
		out = append(out, m.clone())
	}
	return out
}

func (m *summary) equal(n *summary) bool {
	return m == n || (m != nil && n != nil && m.through == n.through && stringsEqual(m.text, n.text))
}

// summaryMessage returns the message that stands for the summary in a window.
func (s Session) summaryMessage(role string) Message {
	return Message{Role: role, Content: s.summary.text, Extra: map[string]any{"summary_through": json.Number(strconv.Itoa(s.summary.through))}}
}

// summaryOf returns the summary that v, the value of the key "summary" in a file,
// holds, or nil if it is not one as Summarize writes it (then the file's value is kept
// as it is, as any key the package does not know).
func summaryOf(v any) *summary {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return nil
	}
	text, ok := m["text"].(string)
	n, isNumber := m["through"].(json.Number)
	if !ok || text == "" || !isNumber {
		return nil
	}
	through, err := strconv.Atoi(string(n))
	if err != nil || through <= 0 || strconv.Itoa(through) != string(n) {
		return nil
	}
	return &summary{text: text, through: through}
}

// appendSummary appends the JSON of the summary.
func (s Session) appendSummary(b []byte) []byte {
	b = append(b, `{"text":`...)
	b = jsonwire.AppendString(b, s.summary.text)
	b = append(b, `,"through":`...)
	b = strconv.AppendInt(b, int64(s.summary.through), 10)
	return append(b, '}')
}
