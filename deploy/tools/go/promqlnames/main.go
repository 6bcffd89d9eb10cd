// Command promqlnames parses PromQL expressions with Prometheus' own parser and reports every
// series selector in them: the metric name and its label matchers.
//
// Input: JSON lines {"where": "...", "expr": "..."} on stdin.
// Output: one JSON line per input: {"where", "error"} or {"where", "selectors": [{"name",
// "matchers": [{"label","op","value"}]}]}. Exit status 1 if any expression does not parse.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type input struct {
	Where string `json:"where"`
	Expr  string `json:"expr"`
}

type matcher struct {
	Label string `json:"label"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

type selector struct {
	Name     string    `json:"name"`
	Matchers []matcher `json:"matchers"`
}

type output struct {
	Where     string     `json:"where"`
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors,omitempty"`
}

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	encoder := json.NewEncoder(os.Stdout)
	failed := false
	promql := parser.NewParser(parser.Options{})
	for scanner.Scan() {
		var in input
		if err := json.Unmarshal(scanner.Bytes(), &in); err != nil {
			fmt.Fprintln(os.Stderr, "promqlnames: bad input line:", err)
			os.Exit(2)
		}
		out := output{Where: in.Where}
		expr, err := promql.ParseExpr(in.Expr)
		if err != nil {
			out.Error = err.Error()
			failed = true
		} else {
			for _, path := range parser.ExtractSelectors(expr) {
				out.Selectors = append(out.Selectors, describe(path))
			}
		}
		if err := encoder.Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, "promqlnames:", err)
			os.Exit(2)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "promqlnames:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func describe(matchers []*labels.Matcher) selector {
	var s selector
	for _, m := range matchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			s.Name = m.Value
			continue
		}
		s.Matchers = append(s.Matchers, matcher{Label: m.Name, Op: m.Type.String(), Value: m.Value})
	}
	return s
}
