// Command image builds daemonguard's OCI image without a container engine:
// the Dockerfile's final stage (base, user, entrypoint, command, labels) on
// a stand-in for its base, with the binary cross-compiled by `go build` for
// each platform, into an OCI image layout holding one multi-platform index.
// The output is reproducible: every timestamp is -epoch (SOURCE_DATE_EPOCH).
// It prints the layout's path as its last line.
//
//	go run -C hack/tools/image . -root "$PWD" -o bin/image \
//	  -build-arg VERSION=v1.2.3 -build-arg REVISION=$(git rev-parse HEAD) \
//	  -- -trimpath -ldflags "-s -w -X main.version=v1.2.3" ./cmd/daemonguard
//
// Everything after -- is passed to `go build` (run in -root, with
// CGO_ENABLED=0 as in the Dockerfile).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation names the index inside the layout (as buildx and ko do),
// so `crane push LAYOUT REF` finds exactly one entry.
const refNameAnnotation = "org.opencontainers.image.ref.name"

type options struct {
	root, out, dockerfile string
	platforms             []string
	buildArgs             map[string]string
	epoch                 time.Time
	goBuild               []string
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err == nil {
		err = run(o, os.Stderr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hack/tools/image: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(o.out)
}

func parseFlags(argv []string) (*options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	o := &options{buildArgs: map[string]string{}}
	fs.StringVar(&o.root, "root", ".", "repository root: where `go build` runs and the Dockerfile is")
	fs.StringVar(&o.out, "o", "bin/image", "OCI layout directory to write (replaced), relative to -root")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	epoch := fs.String("epoch", os.Getenv("SOURCE_DATE_EPOCH"), "seconds since 1970 for every timestamp (default $SOURCE_DATE_EPOCH)")
	fs.Func("build-arg", "NAME=VALUE for the Dockerfile's final-stage ARGs (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want NAME=VALUE")
		}
		o.buildArgs[k] = v
		return nil
	})
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	o.goBuild = fs.Args()
	if len(o.goBuild) == 0 {
		return nil, fmt.Errorf("no `go build` arguments after --")
	}
	sec, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("-epoch / SOURCE_DATE_EPOCH %q: want seconds since 1970", *epoch)
	}
	o.epoch = time.Unix(sec, 0).UTC()
	o.platforms = strings.Split(*platforms, ",")
	if o.root, err = filepath.Abs(o.root); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(o.out) {
		o.out = filepath.Join(o.root, o.out)
	}
	o.dockerfile = filepath.Join(o.root, "Dockerfile")
	return o, nil
}

func run(o *options, log io.Writer) error {
	stage, err := parseDockerfile(o.dockerfile, o.buildArgs)
	if err != nil {
		return err
	}
	b, ok := bases[stage.From]
	if !ok {
		return fmt.Errorf("the Dockerfile's base %s has no stand-in in hack/tools/image (base.go)", stage.From)
	}
	baseTar, err := tarStream(b.files, o.epoch)
	if err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		bin, err := goBuild(o, goos, goarch, log)
		if err != nil {
			return err
		}
		img, err := image(stage, b, baseTar, bin, goos, goarch, o.epoch)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: goos, Architecture: goarch},
		}})
	}
	// The labels on the index too: registries (ghcr.io among them) show a
	// multi-platform image's source and description from its index.
	idx = mutate.Annotations(idx, stage.Labels).(v1.ImageIndex)
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "image index %s\n", digest)
	return writeLayout(o.out, idx, stage.Labels["org.opencontainers.image.version"])
}

// goBuild cross-compiles the binary for one platform, as the Dockerfile's
// build stage does (CGO off: a static binary for a base without libc).
func goBuild(o *options, goos, goarch string, log io.Writer) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "daemonguard-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "daemonguard")
	args := append([]string{"build", "-o", out}, o.goBuild...)
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = o.root, log, log
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	fmt.Fprintf(log, "GOOS=%s GOARCH=%s go %q\n", goos, goarch, args)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for %s/%s: %w", goos, goarch, err)
	}
	return os.ReadFile(out)
}

// image is the base layer, the binary's layer and the final stage's config.
func image(stage *finalStage, b base, baseTar, bin []byte, goos, goarch string, epoch time.Time) (v1.Image, error) {
	binTar, err := tarStream([]file{{name: strings.TrimPrefix(stage.Binary, "/"), mode: 0o755, data: string(bin)}}, epoch)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: epoch}
	for _, l := range []struct {
		data []byte
		by   string
	}{
		{baseTar, "hack/tools/image: stand-in for " + stage.From},
		{binTar, "COPY daemonguard " + stage.Binary},
	} {
		layer, err := tarball.LayerFromOpener(opener(l.data), tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{Created: created, CreatedBy: l.by}}); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = goos, goarch, created
	cf.Config.User = stage.User
	cf.Config.Entrypoint, cf.Config.Cmd = stage.Entrypoint, stage.Cmd
	cf.Config.Labels = stage.Labels
	cf.Config.Env, cf.Config.WorkingDir = b.env, b.workingDir
	return mutate.ConfigFile(img, cf)
}

func opener(data []byte) tarball.Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

// writeLayout writes the index into a fresh OCI layout at dir, replacing
// what was there only once the new one is complete.
func writeLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: ref}))
	}
	if err := p.AppendIndex(idx, opts...); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp's 0700
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
