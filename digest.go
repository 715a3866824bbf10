package session

import (
	"crypto/sha256"
	"fmt"
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
// It fails as ToJSON does, for the zero Session and for a value with no JSON encoding.
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
	n := len(l.msgs)
	if n == 0 {
		return digest{}, nil
	}
	b := l.b
	b.digestMu.Lock()
	defer b.digestMu.Unlock()
	var body []byte
	for i := len(b.digests); i < n; i++ {
		// Slot i is one that l sees: written before l existed, and never again.
		var err error
		if body, err = l.msgs[i].appendJSON(body[:0]); err != nil {
			return digest{}, prefixPath(fmt.Sprintf("messages[%d]", i), err)
		}
		var prev digest
		if i > 0 {
			prev = b.digests[i-1]
		}
		h := sha256.New()
		h.Write(prev[:])
		h.Write(body)
		var d digest
		h.Sum(d[:0])
		b.digests = append(b.digests, d)
	}
	return b.digests[n-1], nil
}

// digestsUpTo returns a copy of the chain digests computed so far of b's first n slots
// at most, for an array that copies them.
func (b *backing) digestsUpTo(n int) []digest {
	b.digestMu.Lock()
	defer b.digestMu.Unlock()
	k := min(len(b.digests), n)
	if k == 0 {
		return nil
	}
	return append(make([]digest, 0, k+k/4), b.digests[:k]...)
}
