// Package bench measures the session codec beside the fastest general Go JSON
// libraries, github.com/goccy/go-json and github.com/bytedance/sonic, decoding and
// encoding a plain struct of the same data, in one run:
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// It is a module of its own so that its baselines stay out of the library's go.mod.
package bench
