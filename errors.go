package session

import (
	"errors"
	"fmt"
)

// fieldError is an error about one field of a session's JSON, named by its path, such
// as messages[3].timestamp. Its message has no "session: " prefix: the exported function
// that returns it adds the prefix, and the file name where there is one.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string {
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}
func (e *fieldError) Unwrap() error { return e.err }

// within returns err with its path made relative to the field named by path, if it is
// a *fieldError; any other error as it is.
func within(path string, err error) error {
	fe, ok := err.(*fieldError)
	if !ok {
		return err
	}
	return &fieldError{joinPath(path, fe.path), fe.err}
}

// errZeroSession is reported when encoding a Session that New did not make.
var errZeroSession = errors.New("empty (the zero Session cannot be encoded: create sessions with New)")

// prefixPath returns err with key added in front of the path of the value it is about.
func prefixPath(key string, err error) error {
	if fe, ok := err.(*fieldError); ok {
		return &fieldError{joinPath(key, fe.path), fe.err}
	}
	return &fieldError{key, err}
}

// joinPath returns the path of the field rest within the field path: "a.b", "a[0]".
func joinPath(path, rest string) string {
	switch {
	case path == "":
		return rest
	case rest == "":
		return path
	case rest[0] == '[':
		return path + rest
	}
	return path + "." + rest
}

// errDuplicateKey is the error of an object with two keys that differ only in bytes
// that are not UTF-8, which JSON cannot tell apart.
var errDuplicateKey = errors.New("duplicate key")

// duplicateKeyError is the error of a key that is written as another key of its object
// is.
func duplicateKeyError(key, written string) error {
	return &fieldError{"", fmt.Errorf("%w: key %q is written as %q, another key of the object", errDuplicateKey, key, written)}
}
