package jsonwire_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exllm-go/session/internal/jsonwire"
)

// checkString checks that AppendString writes s as JSON that encoding/json reads back
// as s, with invalid UTF-8 as U+FFFD, and that it writes the same as encoding/json
// without HTML escaping, but for invalid UTF-8, which it writes as the character.
func checkString(t *testing.T, s string) {
	t.Helper()
	out := jsonwire.AppendString([]byte("prefix"), s)
	require.True(t, bytes.HasPrefix(out, []byte("prefix")))
	out = out[len("prefix"):]
	var back string
	require.NoError(t, json.Unmarshal(out, &back), "%q", out)
	theirs, err := json.Marshal(s)
	require.NoError(t, err)
	var want string
	require.NoError(t, json.Unmarshal(theirs, &want))
	assert.Equal(t, want, back, "what encoding/json writes of %q reads back alike", s)
	if utf8.ValidString(s) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(out))
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "a", "plain text of more than sixteen bytes", `quote " and backslash \`, "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "<>&", "café ☕ 𝄞", "\u2028\u2029", "\xff", "caf\xc3", "a\xed\xa0\x80b",
		strings.Repeat("x", 100) + "\"" + strings.Repeat("y", 100),
	} {
		checkString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\xff", "\u2028", strings.Repeat("ab", 20) + "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}

// TestSkipPlain: the index SkipPlainBytes returns is at or before the first byte that
// is not plain, and PlainText agrees with a byte loop.
func TestSkipPlain(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	for _, s := range []string{"", "short", strings.Repeat("a", 40), strings.Repeat("a", 17) + "\"" + strings.Repeat("b", 30),
		strings.Repeat("a", 33) + "\x1f", strings.Repeat("a", 8) + "é" + strings.Repeat("c", 20)} {
		b := []byte(s)
		first := len(b)
		for i, c := range b {
			if !plain(c) {
				first = i
				break
			}
		}
		i := jsonwire.SkipPlainBytes(b, 0)
		assert.LessOrEqual(t, i, first, "%q", s)
		assert.GreaterOrEqual(t, i, min(first, len(b))-16, "%q: it skips words of plain bytes", s)
		text := true
		for _, c := range b {
			text = text && c >= 0x20 && c < 0x80 && c != '\\'
		}
		assert.Equal(t, text, jsonwire.PlainText(b), "%q", s)
	}
}

func TestNumbers(t *testing.T) {
	for _, s := range []string{"0", "-0", "12", "-1.5", "1e9", "1E+9", "2.5e-3", "01", "1.", ".5", "+1", "-", "1e", "--1", "1x", "", "0.0e0"} {
		assert.Equal(t, json.Valid([]byte(s)), jsonwire.ValidNumber(s), "%q", s)
	}
	n, ok := jsonwire.ScanNumber([]byte("12.5,"))
	assert.True(t, ok)
	assert.Equal(t, 4, n)
	for _, f := range []float64{0, 1, -1.5, 1e-7, 1e21, 123456789, 0.1, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		got, err := jsonwire.AppendFloat(nil, f)
		require.NoError(t, err)
		want, _ := json.Marshal(f)
		assert.Equal(t, string(want), string(got))
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		_, err := jsonwire.AppendFloat(nil, f)
		assert.Error(t, err)
	}
}

func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-1.5e10", "01", "1.", "1e+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if json.Valid([]byte(s)) && strings.TrimLeft(s, "-0123456789.eE+") == "" && s != "" && s[len(s)-1] != ' ' {
			assert.True(t, jsonwire.ValidNumber(s), "%q", s)
		}
		if jsonwire.ValidNumber(s) {
			assert.True(t, json.Valid([]byte(s)), "%q", s)
		}
	})
}

// checkTime checks that AppendTime writes t as RFC 3339 in UTC with six fraction digits,
// and that ParseCanonicalTime and ParseTime read it back to the microsecond.
func checkTime(t *testing.T, at time.Time) {
	t.Helper()
	out, err := jsonwire.AppendTime(nil, at)
	if at.UTC().Year() < 0 || at.UTC().Year() > 9999 {
		assert.Error(t, err, "%v", at)
		return
	}
	require.NoError(t, err)
	want := `"` + at.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"`
	require.Equal(t, want, string(out))
	micro := at.UTC().Truncate(time.Microsecond)
	back, ok := jsonwire.ParseCanonicalTime(out[1 : len(out)-1])
	require.True(t, ok, "%s", out)
	assert.True(t, back.Equal(micro), "%s: %v", out, back)
	var cache jsonwire.DayCache
	for range 2 {
		back, ok = jsonwire.ParseCanonicalTimeOfDay(out[1:len(out)-1], &cache)
		require.True(t, ok)
		assert.True(t, back.Equal(micro))
	}
	parsed, err := jsonwire.ParseTime(string(out[1 : len(out)-1]))
	require.NoError(t, err)
	assert.True(t, parsed.Equal(micro))
}

func TestTimes(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 24, 14, 23, 55, 857017000, time.UTC),
		time.Date(2026, 11, 24, 14, 23, 55, 857017999, time.FixedZone("x", 3600)),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 1000, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		checkTime(t, at)
	}
	for _, s := range []string{"2026-11-24T14:23:55Z", "2026-11-24T14:23:55.1234567Z", "2026-02-30T00:00:00.000000Z", "2026-11-24 14:23:55.857017Z"} {
		_, ok := jsonwire.ParseCanonicalTime([]byte(s))
		assert.False(t, ok, "%s is not the canonical form", s)
	}
	for _, s := range []string{"2026-11-24 14:23:55+01:00", "2026-11-24T14:23:55+0100", "2026-11-24", "2026-11-24T14:23:55"} {
		_, err := jsonwire.ParseTime(s)
		assert.NoError(t, err, s)
	}
	_, err := jsonwire.ParseTime("yesterday")
	var perr *time.ParseError
	assert.ErrorAs(t, err, &perr)
}

func FuzzTime(f *testing.F) {
	f.Add(int64(1_764_000_000), int64(857017000))
	f.Add(int64(-62_135_596_800), int64(0))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		checkTime(t, time.Unix(sec%(400*365*86400*30), nsec%1e9))
	})
}
