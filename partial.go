package session

import (
	"errors"
	"fmt"
)

// ErrPartial is the error of encoding a partial session whole (see
// [Session.FirstIndex]): [Session.ToJSON], [Session.MarshalJSON], [Session.AppendJSON]
// and [Session.SaveToFile] refuse to write a file that would lose the messages it does
// not hold. The error names them: "session: messages[0:9960]: not held by a partial
// session". Load the session whole to write it.
var ErrPartial = errors.New("not held by a partial session")

// errUnknownPrefix is the error of a partial session truncated before the first message
// it held: what came before is not known, not even by its digest.
var errUnknownPrefix = fmt.Errorf("%w, nor known", ErrPartial)

// FirstIndex returns the index of the first message s holds: 0 for a whole session, and
// for a partial one, which holds only the last messages of its conversation, the number
// of messages before them.
//
// A partial session comes from Recent, or from a store that reads only the end of a long
// conversation (PrecededBy). It is a Session like any other for everything that looks
// at its last messages: AddMessage, AppendMessages, Window, GetMessages, LastMessage,
// Backward and Truncate to a length of at least FirstIndex() work as they do on the whole
// session. Len, the header (name, context, times, token usage: totals of the whole
// conversation) and Digest are the whole session's; indexes, as MessageAt and Backward
// take and give them, are the conversation's. GetMessages, Messages and Window see only
// the messages it holds. A partial session also holds the conversation's leading system
// messages, the instructions that Window's KeepSystem always sends: MessageAt gives them,
// GetMessages does not. A store commits a partial session as it
// commits a whole one, writing what changed after the messages both hold.
//
// What it does not hold is not lost, but it cannot be written: ToJSON and the functions
// built on it return an error wrapping ErrPartial, and HeaderJSON is the one encoding it
// has. Equal and CommonPrefixLen compare the messages it does not hold by their chain
// digest (see storage.PrefixAt). ClearMessages gives a whole session again.
func (s Session) FirstIndex() int { return s.messages.first() }

// Recent returns s holding only its last n messages (all of them if it has fewer): a
// partial session, see FirstIndex, which keeps a long conversation's tail in memory
// without its history. It takes time in proportion to n, after computing, once for the
// messages s shares with the sessions it was made from and with them, the chain digest
// of the messages it leaves out.
func (s Session) Recent(n int) Session {
	first := s.messages.len() - max(n, 0)
	if first <= s.messages.first() {
		return s
	}
	p := prefix{n: first}
	var err error
	if p.chain, err = s.messages.chain(first); err != nil {
		p = prefix{n: first, unknown: true}
	}
	p.tokens, _ = s.messages.tokensAt(first)
	held := s.messages.view()
	lead := s.messages.leading()
	p.system = lead[:min(len(lead), first):min(len(lead), first)]
	msgs := append([]Message(nil), held[len(held)-(s.messages.len()-first):]...)
	s.messages = partialLog(p, msgs)
	return s
}

// partialError returns the error of encoding s whole if it is partial, else nil.
func (s Session) partialError() error {
	first := s.messages.first()
	if first == 0 {
		return nil
	}
	cause := ErrPartial
	if s.messages.b.prefix.unknown {
		cause = errUnknownPrefix
	}
	return &fieldError{fmt.Sprintf("messages[0:%d]", first), cause}
}
