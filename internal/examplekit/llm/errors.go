package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// HTTPError is a provider's answer with an error status, whatever its body: a JSON
// error object of any provider's shape, a string, or text.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// statusTransport says what a request is for (WithPurpose), and turns a provider's error answer into an *HTTPError before its SDK
// reads the body, so that the status and the message reach the user whatever the body
// holds (an SDK that expects an object fails on a string: "cannot unmarshal string").
type statusTransport struct{ next http.RoundTripper }

func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if purpose := purposeOf(req.Context()); purpose != "" {
		req = req.Clone(req.Context())
		req.Header.Set(PurposeHeader, purpose)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, &HTTPError{Status: resp.StatusCode, Message: errorMessage(body)}
}

// errorMessage returns the message of an error body: error.message, a string error,
// message, or the text itself, cut short.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		var text string
		var obj struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(v.Error, &text) == nil && text != "":
			return text
		case json.Unmarshal(v.Error, &obj) == nil && obj.Message != "":
			return obj.Message
		case v.Message != "":
			return v.Message
		}
	}
	text := strings.TrimSpace(string(body))
	if r := []rune(text); len(r) > 300 {
		text = string(r[:300]) + "..."
	}
	if text == "" {
		text = "(no message)"
	}
	return text
}

// httpClient is the HTTP client every provider's SDK is given.
var httpClient = &http.Client{Transport: statusTransport{next: http.DefaultTransport}}

// describe says what went wrong with a request in a sentence a user can act on, with the
// provider's status and message; keyVariable names the variable of its API key.
func describe(err error, keyVariable string) error {
	var h *HTTPError
	if !errors.As(err, &h) {
		return fmt.Errorf("talking to the model: %w", err)
	}
	switch code := h.Status; {
	case code == 401 || code == 403:
		return fmt.Errorf("the model's server refused the API key (%w); set %s", h, keyVariable)
	case code == 404:
		return fmt.Errorf("the model's server has no such model or endpoint (%w); check -model and -base-url", h)
	case code == 429:
		return fmt.Errorf("the model's server is rate limiting or out of quota (%w); wait and try again", h)
	case code >= 500:
		return fmt.Errorf("the model's server failed (%w); try again later", h)
	}
	return fmt.Errorf("the model's server refused the request (%w)", h)
}
