package session

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
)

// digest is a SHA-256 digest.
type digest = [sha256.Size]byte

// digestPrefix begins the input of every session digest, so that a digest of another
// kind, or of another construction, is never taken for one.
const digestPrefix = "github.com/exllm-go/session digest v1\x00"

// Digest returns a SHA-256 digest of s as ToJSON writes it: sessions that ToJSON writes
// alike have the same digest, and sessions that it writes differently, in any field or
// message, have different digests (short of a SHA-256 collision). A store keeps it to
// know exactly which state of a session it holds.
//
// It is computed from the JSON of the parts of s, not of s whole, so that it costs time
// in proportion to the header (HeaderJSON) and to the messages whose digest was not yet
// computed: each message's digest is computed once and kept with the message, shared by
// every session that holds it, so the digest of a session one turn longer than one whose
// digest was computed costs the turn's messages alone, however long the history and
// however large its messages.
//
// The construction is fixed, so that digests can be kept across versions of this
// package: with c₀ 32 zero bytes and cᵢ₊₁ = SHA-256(cᵢ ‖ the JSON of message i, as
// Message.MarshalJSON writes it), the digest of a session with n messages is
// SHA-256("github.com/exllm-go/session digest v1" ‖ 0x00 ‖ cₙ ‖ n in decimal ‖ 0x00 ‖
// HeaderJSON).
//
// A partial session (see [Session.FirstIndex]) has the digest of the whole session: the chain
// digest of the messages it does not hold stands for them.
//
// It fails as ToJSON does, for the zero Session and for a value with no JSON encoding,
// and for a partial session truncated before the first message it held.
func (s Session) Digest() ([sha256.Size]byte, error) {
	chain, err := s.messages.digest()
	if err != nil {
		return digest{}, fmt.Errorf("session: %w", err)
	}
	header, err := s.appendObject(make([]byte, 0, 512), sessionHeaderKeys)
	if err != nil {
		return digest{}, fmt.Errorf("session: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(digestPrefix))
	h.Write(chain[:])
	h.Write(strconv.AppendInt(nil, int64(s.messages.len()), 10))
	h.Write([]byte{0})
	h.Write(header)
	var d digest
	h.Sum(d[:0])
	return d, nil
}

// digest returns the chain digest of the log's messages: see Session.Digest.
func (l messageLog) digest() (digest, error) {
	return l.chain(l.len())
}

// chainAt returns the chain digest of the first i messages, and whether it is known.
func (l messageLog) chainAt(i int) (digest, bool) {
	c, err := l.chain(i)
	return c, err == nil
}

// chain returns the chain digest of the first i messages of the conversation, for
// l.first() <= i <= l.len(), computing those of the messages up to i not computed yet.
func (l messageLog) chain(i int) (digest, error) {
	first := l.first()
	switch {
	case i == 0:
		return digest{}, nil
	case i < first || i > l.len():
		return digest{}, fmt.Errorf("no chain digest of the first %d messages of a session that holds messages [%d, %d)", i, first, l.len())
	case l.b.prefix.unknown:
		return digest{}, prefixPath(fmt.Sprintf("messages[:%d]", first), errUnknownPrefix)
	case i == first:
		return l.b.prefix.chain, nil
	}
	n := i - first // the slots to digest
	d := loadList(&l.b.digests)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.list) >= n {
		return d.list[n-1], nil
	}
	d.list = slices.Grow(d.list, n-len(d.list))
	// Each step hashes the previous digest and a message's JSON, written after it in one
	// buffer.
	buf := make([]byte, sha256.Size, 512)
	if k := len(d.list); k > 0 {
		copy(buf, d.list[k-1][:])
	} else {
		copy(buf, l.b.prefix.chain[:])
	}
	for k := len(d.list); k < n; k++ {
		// Slot k is one that l sees: written before l existed, and never again.
		var err error
		if buf, err = l.msgs[k].appendJSON(buf[:sha256.Size]); err != nil {
			return digest{}, prefixPath(fmt.Sprintf("messages[%d]", first+k), err)
		}
		sum := sha256.Sum256(buf)
		d.list = append(d.list, sum)
		copy(buf, sum[:])
	}
	return d.list[n-1], nil
}
