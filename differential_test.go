package session_test

import (
	"bytes"
	"encoding/json"
	"errors"
	stdio "io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/exllm-go/session"
)

// decodeAny decodes JSON as encoding/json does into an any, with numbers as
// json.Number, except that of a key that comes twice in an object the first value is
// kept, as ExLLM reads a file (encoding/json keeps the last).
func decodeAny(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := firstWins(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != stdio.EOF {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

func firstWins(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := firstWins(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := m[key.(string)]; !dup {
				m[key.(string)] = v
			}
		}
		_, err := dec.Token()
		return m, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := firstWins(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}

// expectedOutput returns what ToJSON must write, as encoding/json reads it, for a file
// that FromJSON accepted, as encoding/json reads that file: the same values, with the
// normalizations FromJSON documents (absent fields written empty, null counts as 0).
func expectedOutput(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		out[k] = v
	}
	defaults := map[string]any{"context": map[string]any{}, "llm_backend": nil, "name": nil, "messages": []any{}}
	for k, v := range defaults {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	if out["messages"] == nil {
		out["messages"] = []any{}
	}
	usage, ok := out["token_usage"].(map[string]any)
	if !ok {
		return out // missing or null: written as it was
	}
	normal := map[string]any{"input_tokens": json.Number("0"), "output_tokens": json.Number("0")}
	for k, v := range usage {
		switch k {
		case "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens":
			if v == nil {
				v = json.Number("0")
			}
			normal[k] = v // as written: ExLLM's 1.5 and -5 too
		default:
			normal[k] = v
		}
	}
	out["token_usage"] = normal
	return out
}

// differential checks FromJSON and ToJSON against encoding/json on one input: malformed
// JSON is refused with encoding/json's *json.SyntaxError at its offset; valid JSON that
// is refused is refused for a named field; what is accepted is written back with the same
// values, and a second round trip changes nothing.
func differential(t *testing.T, data []byte) {
	s, err := session.FromJSON(data)
	want, werr := decodeAny(data)
	var syntaxErr, wantSyntax *json.SyntaxError
	if !json.Valid(data) {
		if err == nil {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if !errors.As(err, &syntaxErr) {
			t.Fatalf("invalid JSON %q: %v is not a *json.SyntaxError", data, err)
		}
		var v any
		if errors.As(json.Unmarshal(data, &v), &wantSyntax) && wantSyntax.Offset != syntaxErr.Offset {
			t.Fatalf("invalid JSON %q: offset %d, encoding/json says %d", data, syntaxErr.Offset, wantSyntax.Offset)
		}
		return
	}
	if werr != nil {
		t.Fatalf("encoding/json cannot decode valid JSON %q: %v", data, werr)
	}
	if err != nil {
		if errors.As(err, &syntaxErr) || !strings.HasPrefix(err.Error(), "session: ") {
			t.Fatalf("valid JSON %q refused as malformed: %v", data, err)
		}
		return
	}
	out, err := s.ToJSON()
	if err != nil {
		t.Fatalf("accepted %q but cannot encode it: %v", data, err)
	}
	got, err := decodeAny(out)
	if err != nil {
		t.Fatalf("wrote invalid JSON %q: %v", out, err)
	}
	if expected := expectedOutput(want.(map[string]any)); !reflect.DeepEqual(expected, got) {
		t.Fatalf("values changed:\n in: %s\nout: %s", data, out)
	}
	back, err := session.FromJSON(out)
	if err != nil {
		t.Fatalf("cannot decode own output %q: %v", out, err)
	}
	if !back.Equal(s) {
		t.Fatalf("round trip changed the session:\n%s", out)
	}
	if again := must(back.ToJSON()); !bytes.Equal(out, again) {
		t.Fatalf("encoding is not stable:\n%s\n%s", out, again)
	}
}

// differentialSeeds are the ExLLM files and the edge cases a probe of the codec found.
var differentialSeeds = []string{
	`{"messages":`, `{"id":`, `{"id":""`, `{"id":"x","created_at":"bad"`,
	`{"id":"x","created_at":"0000-01-01T00:00:00+01:00","updated_at":"9999-12-31T23:59:59-00:01"}`,
	`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","token_usage":{"input_tokens":null,"output_tokens":-0}}`,
	`{"id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[null]}`,
	`{"ID":"y","id":"x","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","context":null}`,
	`{"id":"x","created_at":"2026-01-01T00:00:00\u005a","updated_at":"2026-01-01 00:00:00,5","context":[1,{"m":null}],` +
		`"messages":[{"role":"user","content":{"a":{}},"timestamp":"2024-01-01","token_usage":{"input_tokens":1,"output_tokens":0}},` +
		`{"role":"tool","content":[{"type":"tool_result","tool_use_id":"t"}],"k":"\b\f<>&\u2028","timestamp":7}]}`,
	`{"id":"x","id":"z","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","messages":[{"role":"a","content":"","content":null}]}`,
}

func FuzzDifferential(f *testing.F) {
	for _, path := range fixturePaths(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range differentialSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(differential)
}
