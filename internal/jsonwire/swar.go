package jsonwire

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unsafe"
)

// The codec's string loops skip eight plain bytes at a time: printable ASCII with no
// quote or backslash, the bytes almost every string of a conversation is made of. A
// word of eight bytes is tested at once with the bit tricks of "Bit Twiddling Hacks"
// (hasless, hasvalue).

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// PlainText reports whether s is printable ASCII with no backslash: a JSON string's text,
// once its closing quote is found, that needs no unescaping nor checking.
func PlainText(s []byte) bool {
	return bytes.IndexByte(s, '\\') < 0 && printableASCII(s)
}

// plainString reports whether s is printable ASCII with no quote or backslash: a
// string JSON holds as it is. The quote is searched for in assembly, the rest is
// checked in words of eight bytes.
func plainString(s string) bool {
	if len(s) < 16 { // a role, a key: shorter than a search is worth
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	if strings.IndexByte(s, '"') >= 0 || strings.IndexByte(s, '\\') >= 0 {
		return false
	}
	return printableASCII(unsafe.Slice(unsafe.StringData(s), len(s))) // only read
}

// printableASCII reports whether every byte of s is printable ASCII (0x20 to 0x7f).
func printableASCII(s []byte) bool {
	i := 0
	for ; i+32 <= len(s); i += 32 {
		w, x := binary.LittleEndian.Uint64(s[i:]), binary.LittleEndian.Uint64(s[i+8:])
		y, z := binary.LittleEndian.Uint64(s[i+16:]), binary.LittleEndian.Uint64(s[i+24:])
		if (w|(w-0x20*lsb)|x|(x-0x20*lsb)|y|(y-0x20*lsb)|z|(z-0x20*lsb))&msb != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// plainMask returns, in its high bits, the bytes of x that are not plain: not printable
// ASCII, or a quote or a backslash, the bytes a JSON string holds as they are. One mask
// gathers the high bit of every byte that is not ASCII, below 0x20, a quote or a
// backslash; a borrow between bytes sets bits only above a byte that already fails.
func plainMask(x uint64) uint64 {
	q, bs := x^('"'*lsb), x^('\\'*lsb)
	return (x | (x - 0x20*lsb) | ((q - lsb) &^ q) | ((bs - lsb) &^ bs)) & msb
}

// skipPlain returns the index, from i on, of a word of eight bytes of s that holds a
// byte that is not plain (see plainMask), at or before the first such byte, or of the
// last bytes, fewer than eight.
func skipPlain(s string, i int) int {
	return SkipPlainBytes(unsafe.Slice(unsafe.StringData(s), len(s)), i) // only read
}

// SkipPlainBytes is skipPlain of a []byte.
func SkipPlainBytes(s []byte, i int) int {
	for ; i+16 <= len(s); i += 16 {
		if plainMask(binary.LittleEndian.Uint64(s[i:]))|plainMask(binary.LittleEndian.Uint64(s[i+8:])) != 0 {
			break
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if plainMask(binary.LittleEndian.Uint64(s[i:])) != 0 {
			break
		}
	}
	return i
}
