package session

import (
	"fmt"
	"time"
)

// timeLayout is how timestamps are written: RFC 3339 in UTC with exactly six fraction
// digits, as ExLLM writes Elixir's DateTime.utc_now(), so that a file passed between
// the two libraries keeps its precision.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// timeLayouts are the other forms of timestamps that ExLLM reads or writes: offsets
// with or without a colon, a space for the T, no offset (a NaiveDateTime, taken as UTC)
// and a date alone. time.Parse accepts a fraction after the seconds, with a '.' or ','.
var timeLayouts = [...]string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05-0700",
	"2006-01-02 15:04:05-0700",
	"2006-01-02T15:04:05-07",
	"2006-01-02 15:04:05-07",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// now returns the current time as the package records it: in UTC, to the microsecond,
// with no monotonic clock reading, so that it survives a JSON round trip exactly.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// recorded returns t as the package records a time it is given: see now.
func recorded(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// parseTime parses a timestamp in any of the forms ExLLM reads and writes. Its error
// is the one for RFC 3339, the form the package writes.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err == nil {
		return t.UTC(), nil
	}
	for _, layout := range timeLayouts {
		if t, lerr := time.Parse(layout, s); lerr == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// appendTime appends t as a JSON string in timeLayout.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("year %d outside of range [0,9999]", y)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// keptTime is a time that a file held in another form than the one appendTime writes
// (another offset, precision or layout, or a year that is outside [0,9999] in UTC).
// Writing the time again writes text, as long as the time is still at.
type keptTime struct {
	at   time.Time
	text string // "" when the file held the time as appendTime writes it
}

// readTime parses text and records it if it is not how appendTime writes the time.
func readTime(text string) (keptTime, error) {
	t, err := parseTime(text)
	if err != nil {
		return keptTime{}, err
	}
	k := keptTime{at: t}
	var buf [40]byte
	if canonical, err := appendTime(buf[:0], t); err != nil || string(canonical[1:len(canonical)-1]) != text {
		k.text = text
	}
	return k, nil
}

func (k keptTime) equal(l keptTime) bool { return k.at.Equal(l.at) && k.text == l.text }

// appendJSON appends k as a JSON string: its text if a file held it in another form.
func (k keptTime) appendJSON(b []byte) ([]byte, error) {
	if k.text != "" {
		return appendString(b, k.text), nil
	}
	return appendTime(b, k.at)
}
