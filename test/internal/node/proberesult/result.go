// Package proberesult is the report the node suite's probe program writes
// and the suite reads: one JSON line, prefixed Prefix, on the container's
// stdout (and in its termination message).
package proberesult

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Prefix starts the report's line in the container's log.
const Prefix = "DGRESULT "

// Result is what the probe reports: one entry per step.
type Result struct {
	Steps []Step `json:"steps"`
	// Identity is who the probe ran as (always reported).
	Identity Identity `json:"identity"`
}

// Step is one operation's outcome.
type Step struct {
	Op  []string `json:"op"`
	OK  bool     `json:"ok"`
	Err string   `json:"err,omitempty"`
	// Errno is the error number's name (EACCES, EPERM, EROFS...) when the
	// failure was a system call's.
	Errno string `json:"errno,omitempty"`
	Out   string `json:"out,omitempty"`
}

// Identity is the process's credentials as the kernel sees them.
type Identity struct {
	UID, EUID, GID, EGID int
	Groups               []int
	// CapEff is /proc/self/status's CapEff (hex).
	CapEff string
	// NoNewPrivs is /proc/self/status's NoNewPrivs ("1": set).
	NoNewPrivs string
}

// Parse finds the report in a container's output (a log file's content or
// a termination message).
func Parse(output string) (*Result, error) {
	for _, line := range strings.Split(output, "\n") {
		i := strings.Index(line, Prefix)
		if i < 0 {
			if strings.HasPrefix(line, `{"steps"`) {
				i, line = 0, Prefix+line
			} else {
				continue
			}
		}
		var r Result
		if err := json.Unmarshal([]byte(line[i+len(Prefix):]), &r); err != nil {
			return nil, fmt.Errorf("probe report: %w", err)
		}
		return &r, nil
	}
	return nil, fmt.Errorf("no probe report in %d bytes of output", len(output))
}

// String renders the report for a test's log.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "uid=%d euid=%d gid=%d egid=%d groups=%v capEff=%s noNewPrivs=%s", r.Identity.UID, r.Identity.EUID,
		r.Identity.GID, r.Identity.EGID, r.Identity.Groups, r.Identity.CapEff, r.Identity.NoNewPrivs)
	for i, s := range r.Steps {
		out := s.Out
		if len(out) > 300 {
			out = out[:300] + "..."
		}
		fmt.Fprintf(&b, "\n  step %d %v: ok=%v", i, s.Op, s.OK)
		if s.Err != "" {
			fmt.Fprintf(&b, " err=%q errno=%s", s.Err, s.Errno)
		}
		if out != "" {
			fmt.Fprintf(&b, " out=%q", out)
		}
	}
	return b.String()
}
