package session

import (
	"fmt"
	"time"
)

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

// appendTime appends t as a JSON string in the form timestamps are written: RFC 3339 in
// UTC with exactly six fraction digits (2026-11-24T14:23:55.857017Z), as ExLLM writes
// Elixir's DateTime.utc_now(), so that a file passed between the two libraries keeps its
// precision. It writes the digits itself: time.AppendFormat is the codec's bottleneck
// for short messages.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, fmt.Errorf("year %d outside of range [0,9999]", year)
	}
	hour, minute, second := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z', '"'), nil
}

// appendDigits appends n, 0 <= n < 10^width, in width decimal digits.
func appendDigits(b []byte, n, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		b = append(b, 0)
	}
	for i := len(b) - 1; width > 0; i, width = i-1, width-1 {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}

// parseCanonicalTime parses a time as appendTime writes it, without
// allocating; it reports false for any other text, which parseTime reads.
func parseCanonicalTime(s []byte) (time.Time, bool) {
	const layout = "dddd-dd-ddTdd:dd:dd.ddddddZ"
	if len(s) != len(layout) {
		return time.Time{}, false
	}
	for i := range len(layout) {
		if c := s[i]; layout[i] == 'd' && !isDigit(c) || layout[i] != 'd' && c != layout[i] {
			return time.Time{}, false
		}
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range s[from:to] {
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), time.Month(num(5, 7)), num(8, 10)
	hour, minute, second := num(11, 13), num(14, 16), num(17, 19)
	t := time.Date(year, month, day, hour, minute, second, num(20, 26)*1000, time.UTC)
	// time.Date moves 30 February to March, 24:00 to the next day: such text is not
	// what appendTime writes.
	if y, m, d := t.Date(); y != year || m != month || d != day || t.Hour() != hour || t.Minute() != minute || t.Second() != second {
		return time.Time{}, false
	}
	return t, true
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
