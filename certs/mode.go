package certs

import "fmt"

// Mode is where the serving certificate comes from.
type Mode string

const (
	// ModeFiles serves the certificate directory as whoever writes it
	// leaves it: cert-manager's Secret volume, or the user's own files.
	ModeFiles Mode = "files"
	// ModeSelfManaged makes the webhook its own CA (see Rotator).
	ModeSelfManaged Mode = "self-managed"
)

// ParseMode parses a --certificates value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeFiles, ModeSelfManaged:
		return m, nil
	case "":
		return ModeFiles, nil
	}
	return "", fmt.Errorf("unknown certificate mode %q (want %q or %q)", s, ModeFiles, ModeSelfManaged)
}
