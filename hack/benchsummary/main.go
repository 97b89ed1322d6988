// Command benchsummary reduces the output of the admission benchmarks
// (`go test -bench . -benchmem -count N ./test/bench/`) to the figures the
// project tracks: it takes the median ns/op, B/op and allocs/op of each
// benchmark over its runs, prints a table, and ends with one line per figure:
//
//	BENCH mutate_speedup_vs_generic <x.xx>
//	BENCH validate_speedup_vs_generic <x.xx>
//	BENCH mutate_allocs <n>
//	BENCH validate_allocs <n>
//
// A speedup is the generic handler's median ns/op divided by daemonguard's.
// It exits non-zero, naming what is missing, when a benchmark is absent.
//
// Usage: benchsummary [FILE] (standard input when FILE is absent or "-").
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// required are the benchmarks the figures are made of.
var required = []string{
	"BenchmarkMutate/daemonguard", "BenchmarkMutate/generic",
	"BenchmarkValidate/daemonguard", "BenchmarkValidate/generic",
}

// samples are one benchmark's runs, one value per run for each unit.
type samples map[string][]float64

// gomaxprocsSuffix is the "-N" go test appends to a benchmark name when
// GOMAXPROCS is not 1.
var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark result lines: a name, an iteration count, then
// value/unit pairs. Everything else (headers, PASS, ok, tee'd noise) is skipped.
func parse(r io.Reader) (map[string]samples, error) {
	results := map[string]samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := gomaxprocsSuffix.ReplaceAllString(f[0], "")
		s := results[name]
		if s == nil {
			s = samples{}
			results[name] = s
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: bad value %q for %s", name, f[i], f[i+1])
			}
			s[f[i+1]] = append(s[f[i+1]], v)
		}
	}
	return results, sc.Err()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

// spread is the half-range of the runs around the median, in percent: how far
// the noisiest run strays.
func spread(xs []float64) float64 {
	lo, hi, m := minOf(xs), maxOf(xs), median(xs)
	if m == 0 {
		return 0
	}
	return math.Max(hi-m, m-lo) / m * 100
}

func summarize(w io.Writer, results map[string]samples) error {
	var missing []string
	for _, name := range required {
		s, ok := results[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case len(s["ns/op"]) == 0 || len(s["allocs/op"]) == 0:
			missing = append(missing, name+" (ns/op and allocs/op: run with -benchmem)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("benchmark output lacks %s", strings.Join(missing, ", "))
	}

	fmt.Fprintf(w, "%-30s %4s %10s %10s %10s %7s %9s %9s\n", "benchmark", "runs", "ns/op", "min", "max", "±%", "B/op", "allocs/op")
	for _, name := range required {
		s := results[name]
		fmt.Fprintf(w, "%-30s %4d %10.0f %10.0f %10.0f %6.1f%% %9.0f %9.0f\n", name, len(s["ns/op"]),
			median(s["ns/op"]), minOf(s["ns/op"]), maxOf(s["ns/op"]), spread(s["ns/op"]), median(s["B/op"]), median(s["allocs/op"]))
	}
	fmt.Fprintln(w, "(ns/op, B/op, allocs/op: medians over the runs; ±: the farthest run from the median)")
	fastest := func(name string) float64 { return minOf(results[name]["ns/op"]) }
	fmt.Fprintf(w, "speedup of the fastest runs, for comparison: mutate %.2f, validate %.2f\n",
		fastest("BenchmarkMutate/generic")/fastest("BenchmarkMutate/daemonguard"),
		fastest("BenchmarkValidate/generic")/fastest("BenchmarkValidate/daemonguard"))

	ns := func(name string) float64 { return median(results[name]["ns/op"]) }
	allocs := func(name string) float64 { return median(results[name]["allocs/op"]) }
	fmt.Fprintf(w, "BENCH mutate_speedup_vs_generic %.2f\n", ns("BenchmarkMutate/generic")/ns("BenchmarkMutate/daemonguard"))
	fmt.Fprintf(w, "BENCH validate_speedup_vs_generic %.2f\n", ns("BenchmarkValidate/generic")/ns("BenchmarkValidate/daemonguard"))
	fmt.Fprintf(w, "BENCH mutate_allocs %.0f\n", allocs("BenchmarkMutate/daemonguard"))
	fmt.Fprintf(w, "BENCH validate_allocs %.0f\n", allocs("BenchmarkValidate/daemonguard"))
	return nil
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	in, name := stdin, "standard input"
	switch {
	case len(args) > 1:
		return errors.New("usage: benchsummary [FILE]")
	case len(args) == 1 && args[0] != "-":
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, args[0]
	}
	results, err := parse(in)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := summarize(stdout, results); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}
