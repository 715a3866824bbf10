package session

import (
	"errors"
	"fmt"

	"github.com/exllm-go/session/internal/seam"
)

// The functions package storage gives store authors, which are not Session's methods.
func init() {
	seam.Header = func(s any) ([]byte, error) { return s.(Session).headerJSON() }
	seam.PrefixAt = func(s any, i int) (int, [32]byte, int, error) {
		c, t, err := s.(Session).prefixAt(i)
		return i, c, t, err
	}
	seam.PrecededBy = func(s any, n int, chain [32]byte, tokens int, system any) (any, error) {
		return s.(Session).precededBy(prefix{n: n, chain: chain, tokens: tokens}, system.([]Message))
	}
	seam.Decode = func(header []byte, messages [][]byte) (any, error) { return decodeParts(header, messages) }
}

// headerJSON returns the JSON of s without its messages: the object ToJSON writes, less
// its "messages" key.
func (s Session) headerJSON() ([]byte, error) {
	data, err := s.appendObject(make([]byte, 0, 512), sessionHeaderKeys)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return data, nil
}

// prefixAt returns the chain digest and the estimated tokens of the first i messages
// of s, for FirstIndex() <= i <= Len().
func (s Session) prefixAt(i int) (digest, int, error) {
	c, err := s.messages.chain(i)
	if err != nil {
		return digest{}, 0, fmt.Errorf("session: %w", err)
	}
	t, _ := s.messages.tokensAt(i)
	return c, t, nil
}

// precededBy returns s, a whole session, as the partial session that holds its
// messages after the p.n messages p stands for, with the leading system messages of
// system before them.
func (s Session) precededBy(p prefix, system []Message) (Session, error) {
	switch {
	case s.messages.first() != 0:
		return Session{}, fmt.Errorf("session: the messages after a prefix are a partial session's already, from message %d", s.messages.first())
	case p.n < 0:
		return Session{}, fmt.Errorf("session: a prefix of %d messages", p.n)
	case p.n == 0:
		return s, nil
	}
	for _, m := range system[:min(len(system), p.n)] {
		if m.Role != "system" {
			break
		}
		p.system = append(p.system, normalized(m))
	}
	s.messages = partialLog(p, append([]Message(nil), s.messages.view()...))
	return s, nil
}

// decodeParts decodes the session whose header, as headerJSON writes it, and messages,
// each as Message.MarshalJSON writes it, a store kept apart.
func decodeParts(header []byte, messages [][]byte) (Session, error) {
	s, err := decodeSession(header)
	if err != nil {
		return Session{}, fmt.Errorf("session: header: %w", err)
	}
	if s.messages.len() > 0 {
		return Session{}, errors.New(`session: header: holds messages`)
	}
	msgs := make([]Message, len(messages))
	for i, body := range messages {
		err := decodeAll(body, func(d *decoder) (err error) {
			if m, ok := d.writtenMessage(); ok {
				msgs[i] = m
				return nil
			}
			msgs[i], err = d.message()
			return err
		})
		if err != nil {
			return Session{}, fmt.Errorf("session: %w", prefixPath(fmt.Sprintf("messages[%d]", i), err))
		}
	}
	s.messages = newMessageLog(msgs)
	return s, nil
}
