package main

import (
	"strings"
	"testing"
)

// Bad serve flags are refused with exit 2 and a message naming the flag,
// before anything reaches for a cluster.
func TestServeRefusesBadFlags(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	cases := map[string]struct {
		args []string
		want string
	}{
		"unknown certificates mode":        {[]string{"--certificates", "magic"}, "--certificates"},
		"self-managed without a namespace": {[]string{"--certificates", "self-managed"}, "needs --namespace"},
		"renewal longer than the lifetime": {[]string{"--certificates", "self-managed", "--namespace", "dg", "--cert-validity", "10d", "--cert-renew-before", "20d"}, "renew"},
		"bad duration":                     {[]string{"--cert-validity", "soon"}, "cert-validity"},
		"zero poll interval":               {[]string{"--config-poll-interval", "0s"}, "--config-poll-interval must be positive"},
		"stray argument":                   {[]string{"extra"}, `unexpected argument "extra"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCmd(t, "", append([]string{"serve"}, tc.args...)...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tc.want)
			}
		})
	}
}
