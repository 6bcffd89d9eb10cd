// Command yaml2json reads a YAML stream (one or more documents) on stdin and prints a JSON array
// with one element per non-empty document, so the Python checks need nothing beyond the stdlib.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v4"
)

func main() {
	decoder := yaml.NewDecoder(os.Stdin)
	docs := []any{}
	for {
		var doc any
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "yaml2json:", err)
			os.Exit(1)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	out, err := json.Marshal(docs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "yaml2json:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}
