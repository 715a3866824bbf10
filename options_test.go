package session_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/exllm-go/session"
)

// TestOptionsAreOpaque checks that no option type can be made outside the package:
// each is an interface with an unexported method, which a function literal of a
// caller's (or any type of its own) cannot implement, so that no option can reach a
// Session's or a Message's internals.
func TestOptionsAreOpaque(t *testing.T) {
	for _, tt := range []struct {
		option  reflect.Type
		literal any // a function literal of the shape the option type once had
	}{
		{reflect.TypeFor[session.NewOption](), func(*session.Session) {}},
		{reflect.TypeFor[session.MessageOption](), func(*session.Message) {}},
		{reflect.TypeFor[session.LoadOption](), func(*struct{ maxSize int64 }) {}},
		{reflect.TypeFor[session.WindowOption](), func(*struct{ keepSystem bool }) {}},
	} {
		t.Run(tt.option.Name(), func(t *testing.T) {
			assert.Equal(t, reflect.Interface, tt.option.Kind())
			exported := 0
			for i := range tt.option.NumMethod() {
				if tt.option.Method(i).IsExported() {
					exported++
				}
			}
			assert.Zero(t, exported, "every method unexported")
			assert.Positive(t, tt.option.NumMethod())
			assert.False(t, reflect.TypeOf(tt.literal).Implements(tt.option), "a function literal is not an option")
		})
	}
}

// TestNilOptionsPanic checks that a nil option, the one value of an option type a
// caller can make, panics naming its type, as a nil func would, rather than being
// taken for no option.
func TestNilOptionsPanic(t *testing.T) {
	s := session.New("openai").AddMessage("user", "hi")
	assert.PanicsWithValue(t, "session: a nil NewOption", func() { session.New("openai", nil) })
	assert.PanicsWithValue(t, "session: a nil MessageOption", func() { s.AddMessage("user", "hi", nil) })
	assert.PanicsWithValue(t, "session: a nil WindowOption", func() { s.Window(100, nil, nil) })
	assert.PanicsWithValue(t, "session: a nil LoadOption", func() { session.LoadFromFile("x.json", nil) })
}
