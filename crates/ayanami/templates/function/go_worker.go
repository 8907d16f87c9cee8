// {{ service }}.{{ name }}: an Ayanami `worker` function.
//
// Ayanami starts this program once and keeps it: each call is one JSON line
// on stdin, {"id": 7, "inputs": {...}}, answered by one JSON line on stdout,
// {"id": 7, "outputs": {...}} or {"id": 7, "error": "..."}. Print nothing
// else on stdout; stderr goes to Ayanami's log.
// Build it with `go build -o {{ name }} .` in this folder.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type request struct {
	ID     json.RawMessage `json:"id"`
	Inputs map[string]any  `json:"inputs"`
}

type reply struct {
	ID      json.RawMessage `json:"id"`
	Outputs map[string]any  `json:"outputs,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func handle(inputs map[string]any) (map[string]any, error) {
	input, ok := inputs["{{ input }}"].(string)
	if !ok {
		return nil, fmt.Errorf("input `{{ input }}` must be a string")
	}
	return map[string]any{"{{ output }}": "Hello " + input}, nil
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var call request
			if jsonErr := json.Unmarshal(line, &call); jsonErr != nil {
				fmt.Fprintln(os.Stderr, "not a request:", jsonErr)
			} else {
				answer := reply{ID: call.ID}
				outputs, callErr := handle(call.Inputs)
				if callErr != nil {
					answer.Error = callErr.Error()
				} else {
					answer.Outputs = outputs
				}
				if out.Encode(answer) != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
