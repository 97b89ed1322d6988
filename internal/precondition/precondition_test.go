package precondition

import "testing"

func TestCEL(t *testing.T) {
	a, b, c := Atom("A", "a"), Atom("B", "b"), Atom("C", "c")
	for name, tc := range map[string]struct {
		cond Cond
		want string
	}{
		"never":                {Never, "false"},
		"always":               {Always, "true"},
		"empty or":             {Or(), "false"},
		"empty and":            {And(), "true"},
		"atom":                 {a, "(a)"},
		"or":                   {Or(b, a), "(a) || (b)"},
		"and":                  {And(b, a), "(a) && (b)"},
		"duplicate atoms":      {And(a, a), "(a)"},
		"duplicate terms":      {Or(a, a), "(a)"},
		"absorption":           {Or(And(a, b), a), "(a)"},
		"absorption, any side": {Or(a, And(b, a), And(c, b)), "(a) || ((b) && (c))"},
		"distribution":         {And(Or(a, b), c), "((a) && (c)) || ((b) && (c))"},
		"and never":            {And(a, Never), "false"},
		"or always":            {Or(a, Always), "true"},
		"and always":           {And(a, Always), "(a)"},
	} {
		if got := tc.cond.CEL(); got != tc.want {
			t.Errorf("%s: got %s, want %s", name, got, tc.want)
		}
	}
	if got, want := Or(And(b, a), c).Doc(), "C; or A and B"; got != want {
		t.Errorf("Doc: got %q, want %q", got, want)
	}
}

func TestMatchConditions(t *testing.T) {
	if got := Always.MatchConditions("x"); got != nil {
		t.Errorf("Always: got %v, want none (the webhook is called for everything)", got)
	}
	got := Never.MatchConditions("x")
	if len(got) != 1 || got[0].Name != "x" || got[0].Expression != "false" {
		t.Errorf("Never: got %v", got)
	}
}

func TestGuards(t *testing.T) {
	if got, want := Has("o", "a", "b"), "has(o.a) && has(o.a.b)"; got != want {
		t.Errorf("Has: got %s, want %s", got, want)
	}
	if got, want := IsTrue("o", "a"), "has(o.a) && o.a == true"; got != want {
		t.Errorf("IsTrue: got %s, want %s", got, want)
	}
	if got, want := AnyIn("o", "l", "x", "x.y"), "has(o.l) && o.l != null && o.l.exists(x, x.y)"; got != want {
		t.Errorf("AnyIn: got %s, want %s", got, want)
	}
}
