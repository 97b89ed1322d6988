package main

import (
	"bytes"
	"strings"
	"testing"
)

const output = `goos: linux
goarch: amd64
pkg: github.com/daemonguard/daemonguard/test/bench
BenchmarkMutate/daemonguard-2         	   25333	     40000 ns/op	  70.10 MB/s	   12646 B/op	     131 allocs/op
BenchmarkMutate/daemonguard-2         	   25333	     50000 ns/op	  70.10 MB/s	   12646 B/op	     131 allocs/op
BenchmarkMutate/daemonguard-2         	   25333	     42000 ns/op	  70.10 MB/s	   12646 B/op	     131 allocs/op
BenchmarkMutate/generic-2             	    4198	    252000 ns/op	  11.18 MB/s	   94636 B/op	    1397 allocs/op
BenchmarkValidate/daemonguard-2       	   32168	     44000 ns/op	  69.86 MB/s	   12314 B/op	     136 allocs/op
BenchmarkValidate/daemonguard-2       	   32168	     46000 ns/op	  69.86 MB/s	   12314 B/op	     138 allocs/op
BenchmarkValidate/generic-2           	    8719	    150000 ns/op	  20.64 MB/s	   28684 B/op	     283 allocs/op
BenchmarkValidate/generic-2           	    8719	    120000 ns/op	  20.64 MB/s	   28684 B/op	     283 allocs/op
PASS
ok  	github.com/daemonguard/daemonguard/test/bench	4.962s
`

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, strings.NewReader(output), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"BENCH mutate_speedup_vs_generic 6.00",   // 252000 / 42000
		"BENCH validate_speedup_vs_generic 3.00", // 135000 / 45000
		"BENCH mutate_allocs 131",
		"BENCH validate_allocs 137",
	}
	got := lines[len(lines)-len(want):]
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q\n%s", i, got[i], want[i], out.String())
		}
	}
}

func TestMissingBenchmark(t *testing.T) {
	trimmed := strings.ReplaceAll(output, "BenchmarkValidate/generic", "BenchmarkOther")
	var out bytes.Buffer
	err := run(nil, strings.NewReader(trimmed), &out)
	if err == nil || !strings.Contains(err.Error(), "BenchmarkValidate/generic") {
		t.Fatalf("want an error naming the missing benchmark, got %v", err)
	}
	if strings.Contains(out.String(), "BENCH") {
		t.Fatalf("printed figures despite a missing benchmark:\n%s", out.String())
	}
}

func TestNoBenchmem(t *testing.T) {
	var out bytes.Buffer
	err := run(nil, strings.NewReader("BenchmarkMutate/daemonguard-2 100 4000 ns/op\n"), &out)
	if err == nil {
		t.Fatal("want an error")
	}
}
