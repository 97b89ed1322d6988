package node

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The images the node runs. No registry is reachable: they are built here
// from the probe program and imported into containerd, and every pod uses
// imagePullPolicy: Never.
const (
	// ProbeImage runs the probe (entrypoint /probe). It also holds
	// /probe-suid, the same binary setuid root, and a world-writable /tmp;
	// it has no /etc (so no passwd entry for any uid).
	ProbeImage = "daemonguard.local/probe:1"
	// PauseImage is the pod sandbox image containerd is configured with:
	// the same layer, entrypoint `/probe pause`.
	PauseImage = "daemonguard.local/pause:1"
	// ProbePath and SuidProbePath are the probe's paths in ProbeImage.
	ProbePath     = "/probe"
	SuidProbePath = "/probe-suid"
)

// buildProbe compiles the probe program statically into dir.
func buildProbe(root, dir string) (string, error) {
	out := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./test/internal/node/probe")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the probe: %v\n%s", err, b)
	}
	return out, nil
}

// writeImages writes a docker-archive (docker save's format: manifest.json,
// one config per image, one shared layer) holding ProbeImage and PauseImage
// built around the probe binary, for `ctr images import`.
func writeImages(probe, archive string) error {
	bin, err := os.ReadFile(probe)
	if err != nil {
		return err
	}
	// A fixed time: the same binary gives the same layer digest.
	mtime := time.Unix(0, 0)
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, e := range []struct {
		name string
		mode int64
		body []byte
		dir  bool
	}{
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "probe", mode: 0o755, body: bin},
		{name: "probe-suid", mode: 0o4755, body: bin},
	} {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: 0, Gid: 0, ModTime: mtime, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := lw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := lw.Write(e.body); err != nil {
			return err
		}
	}
	if err := lw.Close(); err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer.Bytes())
	layerID := hex.EncodeToString(layerSum[:])

	type manifest struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifests []manifest
	files := map[string][]byte{layerID + "/layer.tar": layer.Bytes()}
	for _, img := range []struct {
		tag        string
		entrypoint []string
	}{
		{ProbeImage, []string{ProbePath}},
		{PauseImage, []string{ProbePath, "pause"}},
	} {
		cfg, err := json.Marshal(map[string]any{
			"architecture": "amd64",
			"os":           "linux",
			"created":      mtime.UTC().Format(time.RFC3339),
			"config": map[string]any{
				"Entrypoint": img.entrypoint,
				"Env":        []string{"PATH=/"},
				"WorkingDir": "/",
			},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerID}},
			"history": []map[string]any{{"created": mtime.UTC().Format(time.RFC3339), "created_by": "daemonguard test/internal/node"}},
		})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(cfg)
		name := hex.EncodeToString(sum[:]) + ".json"
		files[name] = cfg
		manifests = append(manifests, manifest{Config: name, RepoTags: []string{img.tag}, Layers: []string{layerID + "/layer.tar"}})
	}
	m, err := json.Marshal(manifests)
	if err != nil {
		return err
	}
	files["manifest.json"] = m

	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, name := range []string{layerID + "/layer.tar", manifests[0].Config, manifests[1].Config, "manifest.json"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(files[name]); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
