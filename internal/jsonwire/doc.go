// Package jsonwire holds the JSON text primitives of the session codec: strings,
// numbers and timestamps as a session file writes them, and loops that skip plain bytes
// eight at a time. They are the codec's hot paths, kept apart from the session's
// structure (package session's decode.go and encode.go), with their own tests and
// fuzzing against encoding/json and package time.
package jsonwire
