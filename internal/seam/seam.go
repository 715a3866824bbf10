// Package seam hands package storage the functions of package session that only stores
// need, so that they are not methods of Session. Package session fills it in when it is
// initialized; package storage is its one user. Its values are session.Session and
// []session.Message, as any: this package cannot name them.
package seam

// The functions of package session that package storage gives store authors.
var (
	Header     func(s any) ([]byte, error)
	PrefixAt   func(s any, i int) (n int, chain [32]byte, tokens int, err error)
	PrecededBy func(s any, n int, chain [32]byte, tokens int, system any) (any, error)
	Decode     func(header []byte, messages [][]byte) (any, error)
)
