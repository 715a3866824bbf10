package session

import (
	"github.com/exllm-go/session/internal/jsonwire"
	"time"
)

// now returns the current time as the package records it: in UTC, to the microsecond,
// with no monotonic clock reading, so that it survives a JSON round trip exactly.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// recorded returns t as the package records a time it is given: see now.
func recorded(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// keptTime is a time that a file held in another form than the one jsonwire.AppendTime writes
// (another offset, precision or layout, or a year that is outside [0,9999] in UTC).
// Writing the time again writes text, as long as the time is still at.
type keptTime struct {
	at   time.Time
	text string // "" when the file held the time as jsonwire.AppendTime writes it
}

// readTime parses text and records it if it is not how jsonwire.AppendTime writes the time.
func readTime(text string) (keptTime, error) {
	t, err := jsonwire.ParseTime(text)
	if err != nil {
		return keptTime{}, err
	}
	k := keptTime{at: t}
	var buf [40]byte
	if canonical, err := jsonwire.AppendTime(buf[:0], t); err != nil || string(canonical[1:len(canonical)-1]) != text {
		k.text = text
	}
	return k, nil
}

func (k keptTime) equal(l keptTime) bool { return k.at.Equal(l.at) && k.text == l.text }

// appendJSON appends k as a JSON string: its text if a file held it in another form.
func (k keptTime) appendJSON(b []byte) ([]byte, error) {
	if k.text != "" {
		return jsonwire.AppendString(b, k.text), nil
	}
	return jsonwire.AppendTime(b, k.at)
}
