// Command dockerfilecheck parses a Dockerfile with BuildKit's own parser and instruction
// decoder (what `docker build` runs first), applies BuildKit's parse-time lint rules, and
// prints the stages as JSON for deploy/tools/check_static.py. Exit status 1 on a parse error or
// a lint warning. It needs no Docker engine.
//
// usage: dockerfilecheck DOCKERFILE
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type command struct {
	Name  string            `json:"name"`
	Code  string            `json:"code"`
	User  string            `json:"user,omitempty"`
	Ports []string          `json:"ports,omitempty"`
	From  string            `json:"from,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
}

type stage struct {
	Name     string    `json:"name"`
	Base     string    `json:"base"`
	Commands []command `json:"commands"`
}

type result struct {
	Args     map[string]string `json:"args"`
	Stages   []stage           `json:"stages"`
	Warnings []string          `json:"warnings"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfilecheck DOCKERFILE")
		os.Exit(2)
	}
	file, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer file.Close()
	ast, err := parser.Parse(file)
	if err != nil {
		fail(err)
	}
	out := result{Args: map[string]string{}, Warnings: []string{}}
	for _, w := range ast.Warnings {
		out.Warnings = append(out.Warnings, w.Short)
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, _, _, message string, location []parser.Range) {
			line := 0
			if len(location) > 0 {
				line = location[0].Start.Line
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf("line %d: %s: %s", line, rule, message))
		},
	})
	stages, metaArgs, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		fail(err)
	}
	for _, arg := range metaArgs {
		for _, kv := range arg.Args {
			value := ""
			if kv.Value != nil {
				value = *kv.Value
			}
			out.Args[kv.Key] = value
		}
	}
	for _, s := range stages {
		st := stage{Name: s.Name, Base: s.BaseName}
		for _, c := range s.Commands {
			cmd := command{Name: strings.ToUpper(c.Name()), Code: fmt.Sprint(c)}
			switch v := c.(type) {
			case *instructions.UserCommand:
				cmd.User = v.User
			case *instructions.ExposeCommand:
				cmd.Ports = v.Ports
			case *instructions.CopyCommand:
				cmd.From = v.From
			case *instructions.EnvCommand:
				cmd.Env = map[string]string{}
				for _, kv := range v.Env {
					cmd.Env[kv.Key] = kv.Value
				}
			}
			st.Commands = append(st.Commands, cmd)
		}
		out.Stages = append(out.Stages, st)
	}
	encoded, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(encoded, '\n'))
	if len(out.Warnings) > 0 {
		fmt.Fprintln(os.Stderr, "dockerfilecheck: warnings:\n  "+strings.Join(out.Warnings, "\n  "))
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
	os.Exit(1)
}
