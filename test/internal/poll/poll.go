// Package poll is how the suites wait for a cluster to get somewhere: one
// loop, so every suite says the same thing when it gives up.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until asks.
const Interval = 100 * time.Millisecond

// Until asks cond every Interval until it holds. After timeout it fails tb
// with what was awaited and cond's last word on the state it saw.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state != "" {
				tb.Fatalf("%s: not within %s; last: %s", what, timeout, state)
			}
			tb.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(Interval)
	}
}

// Err adapts a check that says what is still wrong as an error.
func Err(f func() error) func() (bool, string) {
	return func() (bool, string) {
		if err := f(); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}

// Bool adapts a check with nothing to say about the state.
func Bool(f func() bool) func() (bool, string) {
	return func() (bool, string) { return f(), "" }
}
