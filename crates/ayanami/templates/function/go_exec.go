// {{ service }}.{{ name }}: an Ayanami `exec` function.
//
// Ayanami runs this program once per call, from the project folder: the
// inputs arrive as one JSON object on stdin, the outputs leave as one JSON
// object on stdout. A non-zero exit fails the call with the end of stderr.
// Build it with `go build -o {{ name }} .` in this folder.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func handle(inputs map[string]any) (map[string]any, error) {
	input, ok := inputs["{{ input }}"].(string)
	if !ok {
		return nil, fmt.Errorf("input `{{ input }}` must be a string")
	}
	return map[string]any{"{{ output }}": "Hello " + input}, nil
}

func main() {
	var inputs map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		fmt.Fprintln(os.Stderr, "the inputs are not one JSON object:", err)
		os.Exit(1)
	}
	outputs, err := handle(inputs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(outputs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
