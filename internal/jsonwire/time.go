package jsonwire

import (
	"fmt"
	"slices"
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

// ParseTime parses a timestamp in any of the forms ExLLM reads and writes. Its error
// is the one for RFC 3339, the form the package writes.
func ParseTime(s string) (time.Time, error) {
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

// AppendTime appends t as a JSON string in the form timestamps are written: RFC 3339 in
// UTC with exactly six fraction digits (2026-11-24T14:23:55.857017Z), as ExLLM writes
// Elixir's DateTime.utc_now(), so that a file passed between the two libraries keeps its
// precision. It writes the digits itself: time.AppendFormat is the codec's bottleneck
// for short messages.
func AppendTime(b []byte, t time.Time) ([]byte, error) {
	return AppendTimeOfDay(b, t, nil)
}

// DateCache holds the date of the last day AppendTimeOfDay wrote: the messages of a
// session are mostly of few days.
type DateCache struct {
	days int64
	date [11]byte // "2026-11-24T"
	ok   bool
}

// AppendTimeOfDay is AppendTime, with the date of the day taken from c (if not nil)
// when it is c's.
func AppendTimeOfDay(b []byte, t time.Time, c *DateCache) ([]byte, error) {
	unix := t.Unix()
	days, secs := unix/86400, int(unix%86400)
	if secs < 0 {
		days, secs = days-1, secs+86400
	}
	if days < minDays || days > maxDays {
		return b, fmt.Errorf("year %d outside of range [0,9999]", t.UTC().Year())
	}
	hour, minute, second := secs/3600, secs/60%60, secs%60
	micro := t.Nanosecond() / 1000
	n := len(b)
	b = slices.Grow(b, 29)[:n+29]
	buf := b[n : n+29 : n+29] // "2026-11-24T14:23:55.857017Z", quoted
	buf[0] = '"'
	if c != nil && c.ok && c.days == days {
		copy(buf[1:12], c.date[:])
	} else {
		year, month, day := civil(days)
		putPair(buf[1:], year/100)
		putPair(buf[3:], year%100)
		buf[5] = '-'
		putPair(buf[6:], month)
		buf[8] = '-'
		putPair(buf[9:], day)
		buf[11] = 'T'
		if c != nil {
			c.days, c.ok = days, true
			copy(c.date[:], buf[1:12])
		}
	}
	putPair(buf[12:], hour)
	buf[14] = ':'
	putPair(buf[15:], minute)
	buf[17] = ':'
	putPair(buf[18:], second)
	buf[20] = '.'
	putPair(buf[21:], micro/10000)
	putPair(buf[23:], micro/100%100)
	putPair(buf[25:], micro%100)
	buf[27] = 'Z'
	buf[28] = '"'
	return b, nil
}

// The days since 1970-01-01 of 0000-01-01 and of 9999-12-31: the years AppendTime
// writes.
const (
	minDays = -719528
	maxDays = 2932896
)

// civil returns the date of the day that is days after 1970-01-01, in the proleptic
// Gregorian calendar, for days >= minDays: counted in eras of 400 years from
// 0000-03-01, so that the leap day ends each year.
func civil(days int64) (year, month, day int) {
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097 // rounded down
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365]
	mp := (5*doy + 2) / 153                                // March is 0
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

// daysOf returns the days since 1970-01-01 of a date of the proleptic Gregorian
// calendar, year >= 0: the inverse of civil.
func daysOf(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// daysIn returns the number of days in a month of a year.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// pairs holds the two digits of each number below 100.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// putPair writes n, 0 <= n < 100, as two digits at the start of b.
func putPair(b []byte, n int) {
	b[0], b[1] = pairs[2*n], pairs[2*n+1]
}

// ParseCanonicalTime parses a time as AppendTime writes it, without
// allocating; it reports false for any other text, which ParseTime reads.
func ParseCanonicalTime(s []byte) (time.Time, bool) {
	return ParseCanonicalTimeOfDay(s, nil)
}

// DayCache holds the last date ParseCanonicalTimeOfDay read, and its day.
type DayCache struct {
	date [10]byte // "2026-11-24"
	days int64
	ok   bool
}

// ParseCanonicalTimeOfDay is ParseCanonicalTime, with the day of a date taken from c
// (if not nil) when it is c's.
func ParseCanonicalTimeOfDay(s []byte, c *DayCache) (time.Time, bool) {
	// "2026-11-24T14:23:55.857017Z"
	if len(s) != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
		s[19] != '.' || s[26] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	pair := func(i int) int {
		a, b := s[i]-'0', s[i+1]-'0' // a byte below '0' wraps around, above 9
		ok = ok && a <= 9 && b <= 9
		return int(a)*10 + int(b)
	}
	hour, minute, second := pair(11), pair(14), pair(17)
	micro := pair(20)*10000 + pair(22)*100 + pair(24)
	// 24:00 or a leap second are not what AppendTime writes.
	if !ok || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	var days int64
	if c != nil && c.ok && string(c.date[:]) == string(s[:10]) {
		days = c.days
	} else {
		year, month, day := pair(0)*100+pair(2), pair(5), pair(8)
		// Nor is 30 February.
		if !ok || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
			return time.Time{}, false
		}
		days = daysOf(year, month, day)
		if c != nil {
			copy(c.date[:], s[:10])
			c.days, c.ok = days, true
		}
	}
	unix := days*86400 + int64(hour*3600+minute*60+second)
	return time.Unix(unix, int64(micro)*1000).UTC(), true
}
