package certs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration parses a Go duration ("720h", "90s") or a whole number of
// days ("90d"), the unit certificate lifetimes are usually given in.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > int64(1<<63-1)/int64(day) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * day, nil
	}
	return time.ParseDuration(s)
}

// FormatDuration formats d in days when it is a whole number of them.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}
