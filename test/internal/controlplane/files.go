package controlplane

import (
	"os"
	"path/filepath"

	"github.com/daemonguard/daemonguard/internal/config"
)

// StateDir is dir, created if need be, or a new temporary directory named
// after prefix when dir is empty; own reports the latter, which the caller
// removes when done.
func StateDir(dir, prefix string) (path string, own bool, err error) {
	if dir == "" {
		dir, err = os.MkdirTemp("", prefix)
		return dir, err == nil, err
	}
	return dir, false, os.MkdirAll(dir, 0o755)
}

// WritePolicy writes body as dir/policy.yaml, checks that it loads as serve
// would load it, and returns its path.
func WritePolicy(dir, body string) (string, error) {
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return "", err
	}
	if _, err := config.Load(path); err != nil {
		return "", err
	}
	return path, nil
}
