package config

import "testing"

func TestParseAction(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    Action
		wantErr bool
	}{
		"enforce":     {in: "enforce", want: Enforce},
		"warn":        {in: "warn", want: Warn},
		"audit":       {in: "audit", want: Audit},
		"off":         {in: "off", want: Off},
		"empty":       {in: "", wantErr: true},
		"capitalised": {in: "Enforce", wantErr: true},
		"deny":        {in: "deny", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAction(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseAction(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseAction(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
