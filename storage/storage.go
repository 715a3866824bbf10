// Package storage is for the authors of stores of sessions, such as
// github.com/exllm-go/session/sqlstore: what a store needs of a [session.Session] to
// write a turn without writing the history again, and to read the last messages of a
// long conversation alone, with the same exactness as a whole one.
//
// A store keeps a session's header ([Header]) apart from its messages (each as
// [session.Message.MarshalJSON] writes it) and gives them back together with [Decode].
// Beside each message it can keep the [Prefix] through it ([PrefixAt]): the chain
// digest and the estimated tokens of the messages up to it. It can then read the last
// messages alone and give them back as a partial session ([PrecededBy]), whose
// [session.Session.Digest] is the whole session's: the digest the store recorded at
// the commit proves what it read, without reading the rest.
//
// A store's version of a session is its Digest, which covers every byte of its JSON:
// a compare-and-swap on it never takes one session for another, whatever the clocks
// say or the bytes two writers write.
package storage

import (
	"crypto/sha256"
	"fmt"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/seam"
)

// A Prefix stands for the first messages of a conversation: a partial session holds
// the messages after it. A store records it with each message.
type Prefix struct {
	Len    int               // the number of messages
	Chain  [sha256.Size]byte // their chain digest, as Digest chains them
	Tokens int               // the sum of session.EstimateTokens over them
}

// Header returns the JSON of s without its messages: the object s.ToJSON writes, less
// its "messages" key. It is the one encoding a partial session has.
func Header(s session.Session) ([]byte, error) {
	return seam.Header(s)
}

// PrefixAt returns the Prefix of the first i messages of s, for s.FirstIndex() <= i <=
// s.Len(). Like Digest, it costs the messages whose digest was not computed yet, and it
// fails for a message with no JSON encoding.
func PrefixAt(s session.Session, i int) (Prefix, error) {
	if i < s.FirstIndex() || i > s.Len() {
		return Prefix{}, fmt.Errorf("storage: prefix of %d messages of a session that holds messages [%d, %d)", i, s.FirstIndex(), s.Len())
	}
	n, chain, tokens, err := seam.PrefixAt(s, i)
	if err != nil {
		return Prefix{}, err
	}
	return Prefix{Len: n, Chain: chain, Tokens: tokens}, nil
}

// PrecededBy returns tail, a whole session that holds the last messages of a longer
// conversation, as the partial session that holds them after the p.Len messages p
// stands for: its Len, Digest and message indexes are the whole conversation's. UpdatedAt
// is tail's.
//
// system are the conversation's leading system messages, which Window's KeepSystem
// always sends: those of them before the messages of tail, among the first p.Len; a
// message that is not a system message, and those after it, are ignored. The chain
// digest stands for them only as part of p: a store checks them against the chain it
// recorded through them.
//
// A tail that is partial already, or a negative p.Len, is an error. A p.Len of 0
// returns tail.
func PrecededBy(tail session.Session, p Prefix, system ...session.Message) (session.Session, error) {
	s, err := seam.PrecededBy(tail, p.Len, p.Chain, p.Tokens, system)
	if err != nil {
		return session.Session{}, err
	}
	return s.(session.Session), nil
}

// Decode returns the session whose header, as Header writes it, and messages, each as
// session.Message.MarshalJSON writes it, a store kept apart: the session whose ToJSON
// holds them. Its errors are session.FromJSON's, naming the message (messages[3].role).
func Decode(header []byte, messages [][]byte) (session.Session, error) {
	s, err := seam.Decode(header, messages)
	if err != nil {
		return session.Session{}, err
	}
	return s.(session.Session), nil
}
