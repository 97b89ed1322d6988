// Command promql parses PromQL expressions with Prometheus's own parser and
// prints the metric names each one selects, so the chart tests judge the
// alert rules and the dashboard by what Prometheus will read, not by regex.
//
// It lives in a module of its own: github.com/prometheus/prometheus in the
// main module would raise, by minimum version selection, dependencies the
// webhook binary ships (client_golang, otel, grpc, x/net, protobuf...).
//
// Input (stdin): a JSON array of {"name": ..., "expr": ...}.
// Output (stdout): a JSON array, in the same order, of
// {"name": ..., "metrics": [...], "error": "..."}; exit status 0 even when
// an expression does not parse (the caller reports which).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/prometheus/prometheus/promql/parser"
)

type input struct {
	Name string `json:"name"`
	Expr string `json:"expr"`
}

type output struct {
	Name    string   `json:"name"`
	Metrics []string `json:"metrics"`
	Error   string   `json:"error,omitempty"`
}

func main() {
	var in []input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "promql: reading the expressions:", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]output, 0, len(in))
	for _, e := range in {
		o := output{Name: e.Name, Metrics: []string{}}
		expr, err := p.ParseExpr(e.Expr)
		if err != nil {
			o.Error = err.Error()
		} else {
			o.Metrics = metricNames(expr)
		}
		out = append(out, o)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "promql:", err)
		os.Exit(2)
	}
}

// metricNames are the names of every vector and matrix selector in expr,
// sorted and unique. A selector without a name (only label matchers) is an
// error's worth of surprise in a rule, so it is reported as "".
func metricNames(expr parser.Expr) []string {
	names := []string{}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && !slices.Contains(names, vs.Name) {
			names = append(names, vs.Name)
		}
		return nil
	})
	slices.Sort(names)
	return names
}
