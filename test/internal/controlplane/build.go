package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// BuildDaemonguard builds ./cmd/daemonguard to out as the Dockerfile does:
// static (CGO off), trimmed, stripped.
// The benchmarks measure this binary, the one an image runs.
func BuildDaemonguard(ctx context.Context, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/daemonguard")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building daemonguard: %v\n%s", err, output)
	}
	return nil
}
