package chart

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestDockerfile: a multi-stage build whose final image is distroless or
// scratch and runs as the same non-root uid/gid as the chart's pods.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, fields[len(fields)-1])
			if strings.EqualFold(fields[len(fields)-2], "AS") {
				froms[len(froms)-1] = fields[len(fields)-3]
			}
			user = "" // USER is per stage
		case "USER":
			user = fields[1]
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final image %s, want distroless/static or scratch", final)
	}
	uid, gid, ok := strings.Cut(user, ":")
	if !ok {
		t.Fatalf("final stage USER %q, want numeric uid:gid", user)
	}
	d, _ := deployment(t, render(t, ""), fullname)
	psc := d.Spec.Template.Spec.SecurityContext
	if uid != strconv.FormatInt(*psc.RunAsUser, 10) || gid != strconv.FormatInt(*psc.RunAsGroup, 10) {
		t.Errorf("image runs as %s:%s, the chart as %d:%d", uid, gid, *psc.RunAsUser, *psc.RunAsGroup)
	}
	if uid == "0" {
		t.Error("image runs as root")
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// imageBinary builds cmd/daemonguard as the Dockerfile does (CGO off, from a
// build context filtered by .dockerignore), once per test run.
func imageBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		var ctxDir, dir string
		if dir, buildErr = os.MkdirTemp("", "daemonguard-image-"); buildErr != nil {
			return
		}
		// Left for the OS to clean: the binary is shared by several tests.
		ctxDir = filepath.Join(dir, "context")
		if buildErr = copyBuildContext(repoRoot, ctxDir); buildErr != nil {
			return
		}
		binary = filepath.Join(dir, "daemonguard")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", binary, "./cmd/daemonguard")
		cmd.Dir = ctxDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cmd/daemonguard from the Docker build context: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// copyBuildContext copies what `docker build` would send: everything not
// excluded by .dockerignore (patterns anchored at the root, matching a path
// or any of its parents; no negations are used).
func copyBuildContext(src, dst string) error {
	ignore, err := os.ReadFile(filepath.Join(src, ".dockerignore"))
	if err != nil {
		return err
	}
	var patterns []string
	sc := bufio.NewScanner(bytes.NewReader(ignore))
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			return fmt.Errorf(".dockerignore: negation %q is not supported by this check", p)
		}
		patterns = append(patterns, strings.TrimPrefix(filepath.Clean(p), "/"))
	}
	excluded := func(rel string) bool {
		for _, p := range patterns {
			if ok, _ := filepath.Match(p, rel); ok {
				return true
			}
		}
		return false
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		if excluded(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// TestImageBinaryIsStatic: distroless/static has no libc, so the binary must
// not ask for a dynamic loader.
func TestImageBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(imageBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary is dynamically linked (has PT_INTERP)")
		}
	}
}

// serveFlags runs `daemonguard serve --help` and returns every flag it
// defines with its default ("" when it prints none).
func serveFlags(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command(imageBinary(t), "serve", "--help")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("daemonguard serve --help: %v\n%s", err, out.String())
	}
	flags := map[string]string{}
	var current string
	name := regexp.MustCompile(`^  -{1,2}([a-z0-9][a-z0-9-]*)`)
	def := regexp.MustCompile(`\(default "?([^"]*?)"?\)$`)
	for _, line := range strings.Split(out.String(), "\n") {
		if m := name.FindStringSubmatch(line); m != nil {
			current = m[1]
			flags[current] = ""
		} else if m := def.FindStringSubmatch(line); m != nil && current != "" {
			flags[current] = m[1]
		}
	}
	if len(flags) == 0 {
		t.Fatalf("no flags in daemonguard serve --help:\n%s", out.String())
	}
	return flags
}

// TestChartFlagsExist: every flag the chart passes to `daemonguard serve`,
// in every variant, is one the binary defines — a renamed flag would
// otherwise crash-loop every pod after an upgrade.
func TestChartFlagsExist(t *testing.T) {
	known := serveFlags(t)
	names, values := sortedVariants(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, d := range objectsOf[*appsv1.Deployment](render(t, values[name])) {
				c := d.Spec.Template.Spec.Containers[0]
				if len(c.Args) == 0 || c.Args[0] != "serve" {
					t.Fatalf("args %v do not start with serve", c.Args)
				}
				for flag := range args(&c) {
					if _, ok := known[flag]; !ok && flag != "serve" {
						t.Errorf("the chart passes --%s, which `daemonguard serve` does not define", flag)
					}
				}
			}
		})
	}
}

// TestChartFlagsMatchBinaryDefaults: where the chart spells out a setting the
// binary also defaults, the two agree, so a user reading either sees the same
// ports, file names and self-managed object names.
func TestChartFlagsMatchBinaryDefaults(t *testing.T) {
	known := serveFlags(t)
	for mode, values := range map[string]string{"certManager": "", "selfManaged": "certificates: {mode: selfManaged}"} {
		t.Run(mode, func(t *testing.T) {
			_, c := deployment(t, render(t, values), fullname)
			a := args(c)
			same := []string{"port", "cert-name", "key-name", "config-poll-interval", "metrics-bind-address", "health-probe-bind-address"}
			if mode == "selfManaged" {
				same = append(same, "cert-secret-name", "service-name", "webhook-configuration-name")
			}
			for _, flag := range same {
				if got, want := a[flag], known[flag]; got != want {
					t.Errorf("chart passes --%s=%s, the binary defaults to %q", flag, got, want)
				}
			}
		})
	}
}
