package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The subset of the OCI image spec the test reads; decoded here with the
// standard library, not with the builder's go-containerregistry, so a bug
// there cannot hide itself.
type (
	ociDescriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	}
	ociIndex struct {
		MediaType   string            `json:"mediaType"`
		Manifests   []ociDescriptor   `json:"manifests"`
		Annotations map[string]string `json:"annotations"`
	}
	ociManifest struct {
		MediaType string          `json:"mediaType"`
		Config    ociDescriptor   `json:"config"`
		Layers    []ociDescriptor `json:"layers"`
	}
	ociConfig struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			User       string            `json:"User"`
			Entrypoint []string          `json:"Entrypoint"`
			Cmd        []string          `json:"Cmd"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
)

// The platforms the release publishes (README: Release artifacts).
var imagePlatforms = []string{"linux/amd64", "linux/arm64"}

// elfMachines is the ELF machine each platform's binary must be built for.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestImageLayout reads the image `make image` wrote ($DAEMONGUARD_IMAGE,
// an OCI layout): for every platform it runs as the chart's pods run, starts
// the Dockerfile's entrypoint with `serve`, carries the OCI labels, and its
// layers hold a static executable for that platform, owned by root, plus the
// user, group, home and /tmp the base provides.
func TestImageLayout(t *testing.T) {
	dir := os.Getenv("DAEMONGUARD_IMAGE")
	if dir == "" {
		t.Fatal("$DAEMONGUARD_IMAGE not set: run `make integration`, or `make image` and set it to the path printed last")
	}
	var top ociIndex
	readJSON(t, filepath.Join(dir, "index.json"), &top)
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("index.json lists %+v, want one OCI image index (what `crane push` and `skopeo copy oci:` read)", top.Manifests)
	}
	var idx ociIndex
	readBlobJSON(t, dir, top.Manifests[0], &idx)

	d, c := deployment(t, render(t, ""), fullname)
	uid, gid := d.Spec.Template.Spec.SecurityContext.RunAsUser, d.Spec.Template.Spec.SecurityContext.RunAsGroup
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsGroup != nil {
		gid = sc.RunAsGroup
	}
	if uid == nil || gid == nil {
		t.Fatal("the chart sets no runAsUser/runAsGroup: the image's USER would decide")
	}
	wantUser := fmt.Sprintf("%d:%d", *uid, *gid)
	if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("the chart's container has command %v, args %v: want the image's entrypoint with serve", c.Command, c.Args)
	}
	dockerEntrypoint := dockerfileExecForm(t, "ENTRYPOINT")

	var platforms []string
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			t.Fatalf("manifest %s has no platform", m.Digest)
		}
		p := m.Platform.OS + "/" + m.Platform.Architecture
		platforms = append(platforms, p)
		t.Run(p, func(t *testing.T) {
			var man ociManifest
			readBlobJSON(t, dir, m, &man)
			var cfg ociConfig
			readBlobJSON(t, dir, man.Config, &cfg)
			if cfg.OS != m.Platform.OS || cfg.Architecture != m.Platform.Architecture {
				t.Errorf("config is %s/%s, the index says %s", cfg.OS, cfg.Architecture, p)
			}
			ic := cfg.Config
			if ic.User != wantUser {
				t.Errorf("image USER %q, the chart runs the pod as %s", ic.User, wantUser)
			}
			if !slices.Equal(ic.Entrypoint, dockerEntrypoint) || !slices.Equal(ic.Cmd, []string{"serve"}) {
				t.Errorf("entrypoint %q cmd %q, want the Dockerfile's %q and [serve]", ic.Entrypoint, ic.Cmd, dockerEntrypoint)
			}
			checkLabels(t, ic.Labels, idx.Annotations)
			fs := readLayers(t, dir, man, cfg)
			checkRootFS(t, fs, ic.Entrypoint[0], *uid, *gid)
			checkBinary(t, fs[strings.TrimPrefix(ic.Entrypoint[0], "/")], m.Platform.Architecture, ic.Labels["org.opencontainers.image.version"])
		})
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, imagePlatforms) {
		t.Errorf("image platforms %v, want %v", platforms, imagePlatforms)
	}
}

// checkLabels: the OCI labels are set, on each image and on the index, and
// name the source and license the chart names.
func checkLabels(t *testing.T, labels, indexAnnotations map[string]string) {
	t.Helper()
	for _, k := range []string{"title", "description", "source", "version", "revision", "licenses"} {
		k = "org.opencontainers.image." + k
		if labels[k] == "" {
			t.Errorf("label %s is empty", k)
		}
		if indexAnnotations[k] != labels[k] {
			t.Errorf("index annotation %s=%q, the image label %q", k, indexAnnotations[k], labels[k])
		}
	}
	chart := readChartMeta(t)
	if src := labels["org.opencontainers.image.source"]; !slices.Contains(chart.Sources, src) {
		t.Errorf("label source %q is not among the chart's sources %v", src, chart.Sources)
	}
	if lic := labels["org.opencontainers.image.licenses"]; lic != chart.Annotations["artifacthub.io/license"] {
		t.Errorf("label licenses %q, the chart's artifacthub.io/license %q", lic, chart.Annotations["artifacthub.io/license"])
	}
}

// entry is one file of the image's merged filesystem.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// readLayers applies the manifest's layers in order, checking each against
// its digest and the config's diff_id.
func readLayers(t *testing.T, dir string, man ociManifest, cfg ociConfig) map[string]entry {
	t.Helper()
	if len(man.Layers) != len(cfg.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d diff_ids", len(man.Layers), len(cfg.RootFS.DiffIDs))
	}
	fs := map[string]entry{}
	for i, l := range man.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Fatalf("layer %s media type %s", l.Digest, l.MediaType)
		}
		zr, err := gzip.NewReader(bytes.NewReader(readBlob(t, dir, l)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Digest(raw); got != cfg.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d: uncompressed digest %s, diff_id %s", i, got, cfg.RootFS.DiffIDs[i])
		}
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			fs[strings.TrimSuffix(path.Clean(h.Name), "/")] = entry{h, data}
		}
	}
	return fs
}

// checkRootFS: the user and group exist with a home the user owns, /tmp is
// world-writable and sticky, and the entrypoint is root's: the process
// cannot replace its own binary.
func checkRootFS(t *testing.T, fs map[string]entry, entrypoint string, uid, gid int64) {
	t.Helper()
	home := ""
	for _, line := range strings.Split(string(fs["etc/passwd"].data), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[2] == strconv.FormatInt(uid, 10) {
			if f[3] != strconv.FormatInt(gid, 10) {
				t.Errorf("/etc/passwd: %s has gid %s, want %d", f[0], f[3], gid)
			}
			home = strings.TrimPrefix(f[5], "/")
		}
	}
	if home == "" {
		t.Errorf("/etc/passwd has no user %d", uid)
	} else if h, ok := fs[home]; !ok || h.hdr.Typeflag != tar.TypeDir || int64(h.hdr.Uid) != uid {
		t.Errorf("home /%s of uid %d: not a directory it owns", home, uid)
	}
	if !strings.Contains(string(fs["etc/group"].data), ":x:"+strconv.FormatInt(gid, 10)+":") {
		t.Errorf("/etc/group has no group %d", gid)
	}
	if tmp, ok := fs["tmp"]; !ok || tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp is not a directory with mode 1777")
	}
	bin, ok := fs[strings.TrimPrefix(entrypoint, "/")]
	if !ok || bin.hdr.Typeflag != tar.TypeReg {
		t.Fatalf("entrypoint %s is not a regular file in the image", entrypoint)
	}
	if bin.hdr.Uid != 0 || bin.hdr.Mode&0o022 != 0 || bin.hdr.Mode&0o111 != 0o111 {
		t.Errorf("entrypoint owner %d mode %o: want root's, executable, writable by no one else", bin.hdr.Uid, bin.hdr.Mode)
	}
}

// checkBinary: a static executable for the platform's architecture; where
// the machine can run it, it reports the version the label carries.
func checkBinary(t *testing.T, bin entry, arch, version string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("entrypoint is not an ELF executable: %v", err)
	}
	if f.Machine != elfMachines[arch] || f.Type != elf.ET_EXEC {
		t.Errorf("entrypoint is %s %s, want an executable for %s (%s)", f.Type, f.Machine, arch, elfMachines[arch])
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("entrypoint is dynamically linked (has PT_INTERP); the base has no libc")
		}
	}
	if arch != runtime.GOARCH || runtime.GOOS != "linux" {
		return
	}
	exe := filepath.Join(t.TempDir(), "daemonguard")
	if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("daemonguard version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "daemonguard "+version {
		t.Errorf("the binary says %q, the version label %q", got, version)
	}
}

// dockerfileExecForm is the final stage's exec-form instruction (ENTRYPOINT, CMD).
func dockerfileExecForm(t *testing.T, instruction string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var v []string
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, instruction+" "); ok {
			v = nil
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("Dockerfile %s: %v", line, err)
			}
		}
	}
	if v == nil {
		t.Fatalf("the Dockerfile has no %s", instruction)
	}
	return v
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// readBlob reads a blob of the layout and checks its size and digest.
func readBlob(t *testing.T, dir string, d ociDescriptor) []byte {
	t.Helper()
	algo, hash, _ := strings.Cut(d.Digest, ":")
	data, err := os.ReadFile(filepath.Join(dir, "blobs", algo, hash))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != d.Size || sha256Digest(data) != d.Digest {
		t.Fatalf("blob %s: size %d, digest %s; the descriptor says %d", d.Digest, len(data), sha256Digest(data), d.Size)
	}
	return data
}

func readBlobJSON(t *testing.T, dir string, d ociDescriptor, v any) {
	t.Helper()
	if err := json.Unmarshal(readBlob(t, dir, d), v); err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
}

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
