package main

import (
	"fmt"
	"time"

	"github.com/exllm-go/session/internal/examplekit/llm"
)

// currentTimeTool is the one tool the chat offers a model.
const currentTimeTool = "current_time"

// tools are the tools the chat offers a model.
var tools = []llm.Tool{llm.Function(currentTimeTool, "The current local date and time, in RFC 3339.")}

// now is the clock of the current_time tool; the tests set it.
var now = time.Now

// runTool runs a tool a model called and returns its result, the content of the tool
// message that answers the call.
func runTool(call llm.ToolCall) string {
	switch call.Function.Name {
	case currentTimeTool:
		return now().Format(time.RFC3339)
	}
	return fmt.Sprintf("error: there is no tool %q; the only tool is %s", call.Function.Name, currentTimeTool)
}
