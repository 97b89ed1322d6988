package config

import (
	"encoding/json"
	"fmt"
)

// Action is what the policy does with a rule's findings. It is the one
// vocabulary for rule actions: the policy file, the rule registry and the
// compiled policy all use it.
type Action string

const (
	// Enforce denies the request.
	Enforce Action = "enforce"
	// Warn admits the request and returns the finding as a warning to the client.
	Warn Action = "warn"
	// Audit admits the request silently and records the finding in the audit log.
	Audit Action = "audit"
	// Off disables the rule.
	Off Action = "off"
)

// Actions lists every action, in the order documentation names them.
func Actions() []Action { return []Action{Enforce, Warn, Audit, Off} }

// ParseAction returns the Action named s, or an error listing the valid ones.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Enforce, Warn, Audit, Off:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q: must be one of enforce, warn, audit, off", s)
}

// UnmarshalJSON reads an action as written. YAML 1.1 reads a bare `off`
// (like `no` and `false`) as the boolean false: the documented `rule: off`
// is taken as written, and the other booleans are kept as "true"/"false" for
// validation to refuse by name.
func (a *Action) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		if b {
			*a = "true"
		} else {
			*a = Off
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("an action must be a string: enforce, warn, audit or off")
	}
	*a = Action(s)
	return nil
}
